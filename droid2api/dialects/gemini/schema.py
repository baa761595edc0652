"""This module rewrites a JSON Schema into the OpenAPI 3.0 subset that Gemini's ``Schema`` accepts.

Tool parameters (``FunctionDeclaration.parameters``) and structured output
(``generationConfig.responseSchema``) both take Gemini's ``Schema`` object,
not JSON Schema. The Gemini API reference (generativelanguage v1beta
``Schema``) lists exactly these fields:

    type (STRING | NUMBER | INTEGER | BOOLEAN | ARRAY | OBJECT), format, title,
    description, nullable, enum (strings only), items, minItems, maxItems,
    properties, required, minProperties, maxProperties, propertyOrdering,
    minLength, maxLength, pattern, minimum, maximum, anyOf, default, example.

Anything else is an unknown field and fails the whole request, so the
rewrite is:

* local ``$ref`` (``#/$defs/...``, ``#/definitions/...``) is inlined; a
  recursive reference becomes a plain OBJECT, since the subset cannot point
  back at itself; ``allOf`` members are merged into one schema;
* ``type: [T, "null"]`` and ``anyOf``/``oneOf`` with a ``{"type": "null"}``
  member become ``nullable: true``; several non-null types become ``anyOf``;
  ``oneOf`` is sent as ``anyOf`` (the subset has no "exactly one");
* ``const`` becomes a one-value ``enum``; enum values are sent as strings
  (the API's own example spells an INTEGER enum as ``["101", "201"]``);
* ``format`` is kept only for the values older API versions accepted
  (``enum``/``date-time`` on strings, ``float``/``double``, ``int32``/``int64``),
  because a newer "any value is allowed" API still rejects others on some
  deployments;
* ``required`` keeps only names that are among ``properties``;
* an ARRAY without ``items`` gets ``items: {type: STRING}``: Gemini rejects it otherwise;
* keywords that only apply to another type (``items`` on a STRING...) are left out;
* everything else (``additionalProperties``, ``patternProperties``,
  ``exclusiveMinimum``, ``examples``, ``not``, ``if``/``then``...) is dropped,
  and the caller is told which keywords went so it can record a Loss.
"""

from __future__ import annotations

from ... import ir

TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}

# Keywords of the subset that mean something for any type.
_COMMON = ("title", "description", "default", "example")

# Keywords of the subset that mean something for one kind of type only.
_BY_TYPE = {
    "STRING": ("minLength", "maxLength", "pattern"),
    "NUMBER": ("minimum", "maximum"),
    "INTEGER": ("minimum", "maximum"),
    "ARRAY": ("minItems", "maxItems"),
    "OBJECT": ("minProperties", "maxProperties", "propertyOrdering"),
}

_FORMATS = {
    "STRING": ("enum", "date-time"),
    "NUMBER": ("float", "double"),
    "INTEGER": ("int32", "int64"),
}

# Read and acted on here, so never reported as dropped.
_HANDLED = {
    "type", "format", "enum", "const", "nullable", "properties", "required", "items",
    "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    *_COMMON, *(key for keys in _BY_TYPE.values() for key in keys),
}

# Annotations for schema tooling; dropping them loses nothing the model would use.
_SILENT = {"$schema", "$id", "$comment"}


def clean_schema(schema, losses: list, field: str) -> dict:
    """Gemini's version of ``schema``; one ir.Loss at ``field`` names the keywords it could not keep."""
    cleaner = _Cleaner(schema if isinstance(schema, dict) else {})
    cleaned = cleaner.clean(schema)
    if cleaner.dropped:
        names = ", ".join(sorted(cleaner.dropped))
        losses.append(ir.Loss(field, f"not in Gemini's schema subset, dropped or rewritten: {names}"))
    return cleaned


class _Cleaner:
    """One schema's rewrite: the root ``$ref`` points into, and what was dropped on the way."""

    def __init__(self, root: dict):
        self.root = root
        self.dropped = set()
        self.expanding = []  # the $refs being inlined right now, to stop at recursion

    def clean(self, schema) -> dict:
        if not isinstance(schema, dict):
            return {}  # `true` (anything goes) has no Gemini spelling but an empty schema
        if "$ref" in schema:
            return self._inline(schema)
        if "allOf" in schema:
            return self._merge_all_of(schema)
        for key in schema:
            if key not in _HANDLED and key not in _SILENT:
                self.dropped.add(key)
        union = schema.get("anyOf") if "anyOf" in schema else schema.get("oneOf")
        if isinstance(union, list):
            if "oneOf" in schema:
                self.dropped.add("oneOf (sent as anyOf)")
            return self._union(schema, union)
        types = schema.get("type")
        types = types if isinstance(types, list) else [types] if types else []
        nullable = "null" in types or schema.get("nullable") is True
        types = [t for t in types if t != "null"]
        if len(types) > 1:
            members = [self._typed(schema, t) for t in types]
            return _with_nullable({**_common(schema), "anyOf": members}, nullable)
        return _with_nullable(self._typed(schema, types[0] if types else None), nullable)

    # -- one type -------------------------------------------------------------

    def _typed(self, schema: dict, json_type) -> dict:
        gemini_type = TYPES.get(json_type) if isinstance(json_type, str) else None
        if json_type is not None and gemini_type is None:
            self.dropped.add(f"type {json_type!r}")
        gemini_type = gemini_type or _implied_type(schema)
        out = _common(schema)
        if gemini_type:
            out["type"] = gemini_type
        for key in _BY_TYPE.get(gemini_type, ()):
            if key in schema:
                out[key] = schema[key]
        fmt = schema.get("format")
        if fmt is not None:
            if fmt in _FORMATS.get(gemini_type, ()):
                out["format"] = fmt
            else:
                self.dropped.add(f"format {fmt!r}")
        values = [schema["const"]] if "const" in schema else schema.get("enum")
        if isinstance(values, list):
            self._enum(out, values, gemini_type)
        if gemini_type == "ARRAY":
            if "items" in schema:
                out["items"] = self.clean(schema["items"])
            else:
                # Gemini rejects an ARRAY without items ("items: missing field"); strings are the
                # safest guess for a list of anything.
                self.dropped.add("array without items (sent as items of STRING)")
                out["items"] = {"type": "STRING"}
        if gemini_type == "OBJECT":
            self._object(out, schema)
        return out

    def _enum(self, out: dict, values: list, gemini_type):
        if None in values:
            out["nullable"] = True
        values = [v for v in values if v is not None]
        if gemini_type in ("BOOLEAN", "ARRAY", "OBJECT") or any(isinstance(v, (dict, list, bool)) for v in values):
            self.dropped.add("enum of non-string values")
            return
        if "type" not in out:
            out["type"] = ("STRING" if any(isinstance(v, str) for v in values)
                           else "INTEGER" if all(isinstance(v, int) for v in values) else "NUMBER")
        out["enum"] = [v if isinstance(v, str) else str(v) for v in values]

    def _object(self, out: dict, schema: dict):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return
        out["properties"] = {name: self.clean(sub) for name, sub in properties.items()}
        required = [name for name in schema.get("required") or () if name in properties]
        if required:
            out["required"] = required

    # -- combinations ----------------------------------------------------------

    def _union(self, schema: dict, members: list) -> dict:
        non_null = [m for m in members if not _is_null(m)]
        nullable = len(non_null) < len(members)
        cleaned = [self.clean(m) for m in non_null]
        if len(cleaned) == 1:
            # `anyOf: [X, null]` is how JSON Schema says "optional X": Gemini says nullable X.
            return _with_nullable({**cleaned[0], **_common(schema)}, nullable)
        return _with_nullable({**_common(schema), "anyOf": cleaned}, nullable)

    def _merge_all_of(self, schema: dict) -> dict:
        members = schema["allOf"] if isinstance(schema["allOf"], list) else []
        rest = {key: value for key, value in schema.items() if key != "allOf"}
        merged = self.clean(rest) if rest else {}
        for member in members:
            for key, value in self.clean(member).items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []),
                                          *(name for name in value if name not in merged.get("required", []))]
                else:
                    merged.setdefault(key, value)
        return merged

    def _inline(self, schema: dict) -> dict:
        ref = schema["$ref"]
        target = self._resolve(ref)
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        if target is None:
            self.dropped.add(f"$ref {ref!r}")
            return self.clean(siblings) if siblings else {}
        if ref in self.expanding:
            self.dropped.add(f"recursive $ref {ref!r}")
            return {**_common(siblings), "type": "OBJECT"}
        self.expanding.append(ref)
        try:
            return self.clean({**target, **siblings})
        finally:
            self.expanding.pop()

    def _resolve(self, ref):
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None  # a remote reference: the gateway never fetches anything
        node = self.root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or token not in node:
                return None
            node = node[token]
        return node if isinstance(node, dict) else None


def _common(schema: dict) -> dict:
    return {key: schema[key] for key in _COMMON if key in schema}


def _with_nullable(schema: dict, nullable: bool) -> dict:
    if nullable:
        schema["nullable"] = True
    return schema


def _is_null(member) -> bool:
    return isinstance(member, dict) and member.get("type") == "null"


def _implied_type(schema: dict):
    """The type a schema without ``type`` evidently has, or None."""
    if isinstance(schema.get("properties"), dict):
        return "OBJECT"
    if "items" in schema:
        return "ARRAY"
    return None
