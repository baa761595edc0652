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

* local ``$ref`` (a JSON pointer such as ``#/$defs/X``) is inlined, as the
  subset has no references: each is converted once and the result shared
  by every use, so the work is linear; a reference back to one being
  converted becomes a plain OBJECT. The body is still sent expanded, so a
  schema that expands past the bounds in schema_size.py is a 400 naming it;
* ``allOf`` members are merged; ``oneOf`` is sent as ``anyOf`` (the subset
  has no "exactly one"); ``type: [T, "null"]`` and a ``{"type": "null"}``
  member become ``nullable: true``; several non-null types become ``anyOf``;
* ``const`` becomes a one-value ``enum``; enum values are sent as strings
  (the API's own example spells an INTEGER enum as ``["101", "201"]``);
* ``format`` is kept only for values older API versions accepted
  (``enum``/``date-time``, ``float``/``double``, ``int32``/``int64``): newer
  ones allow any, but some deployments still reject others;
* ``required`` keeps only names among ``properties``; an ARRAY without
  ``items`` gets ``items: {type: STRING}`` (Gemini rejects it otherwise);
* keywords for another type (``items`` on a STRING...) are left out;
  keywords of the wrong shape (``"required": true``...) and everything
  else (``additionalProperties``, ``not``, ``if``/``then``...) are dropped,
  and the caller is told which went so it can record a Loss.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ... import ir
from .schema_size import ExpansionBudget

TYPES = {name: name.upper() for name in ("string", "number", "integer", "boolean", "array", "object")}


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

# Beside a $ref these change nothing about what it points to (definitions are reached from the root).
_INERT_BESIDE_REF = {"$defs", "definitions", *_SILENT}

# Characters of a malformed value quoted in a Loss.
_QUOTE = 40


def _is_count(value) -> bool:
    whole = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
    return whole and value >= 0  # JSON Schema counts 2.0 as an integer


def _is_number(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _is_names(value) -> bool:
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _kind(python_type):
    return lambda value: isinstance(value, python_type)


# The shape a keyword's value must have to be used, and how a Loss says so; otherwise it is dropped.
_SHAPES = {
    "type": (lambda value: isinstance(value, str) or _is_names(value), "a type name or a list of them"),
    **dict.fromkeys(("properties", "$defs", "definitions"), (_kind(dict), "an object of schemas")),
    **dict.fromkeys(("required", "propertyOrdering"), (_is_names, "a list of property names")),
    "items": (_kind((dict, bool, list)), "a schema"),
    "enum": (_kind(list), "a list"),
    **dict.fromkeys(("anyOf", "oneOf", "allOf"), (_kind(list), "a list of schemas")),
    "nullable": (_kind(bool), "true or false"),
    **dict.fromkeys(("format", "title", "description", "pattern"), (_kind(str), "a string")),
    **dict.fromkeys(("minimum", "maximum"), (_is_number, "a number")),
    **dict.fromkeys(("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"),
                    (_is_count, "a non-negative integer")),
}


def _fits(key, value) -> bool:
    return key not in _SHAPES or _SHAPES[key][0](value)


def clean_schema(schema, losses: list, field: str, *, owner: str | None = None) -> dict:
    """Gemini's version of ``schema``; one ir.Loss at ``field`` names the keywords it could not keep.

    A schema too large or too deep to send once its ``$ref``s are inlined is a 400 GatewayError
    at ``field`` whose message names ``owner`` (e.g. "the parameters schema of tool 'search'").
    """
    cleaner = _Cleaner(schema if isinstance(schema, dict) else {}, owner or f"the schema at {field}", field)
    cleaned = cleaner.clean(schema)
    if cleaner.dropped:
        names = ", ".join(sorted(cleaner.dropped))
        losses.append(ir.Loss(field, f"not in Gemini's schema subset, dropped or rewritten: {names}"))
    return cleaned


@dataclass
class _Conversion:
    """A converted $ref, and what it adds to the output each time it is used."""

    schema: dict
    nodes: int
    chars: int
    height: int  # levels below the $ref
    source: dict  # the $ref node, kept alive so that its id, a key, cannot be reused by another object


class _Cleaner:
    """One schema's rewrite: the root ``$ref`` points into, what was dropped, and how big the output is.

    Converted references are shared between the places that use them, so nothing here may change
    a dict once ``clean`` has returned it.
    """

    def __init__(self, root: dict, owner: str, field: str):
        self.root = root
        self.dropped = set()
        self.expanding = [id(root)]  # targets of the $refs being inlined right now, to stop at recursion
        self.converted = {}  # $ref (or id of a $ref node with siblings) -> _Conversion
        self.size = ExpansionBudget(owner, field)
        self.depth = 0  # of clean calls, each $ref followed counting as one

    def clean(self, schema) -> dict:
        self.depth += 1
        try:
            self.size.deepen(self.depth)
            if isinstance(schema, dict) and "$ref" in schema:
                return self._inline(schema)  # counts what it inlines
            return self.size.grow(self._clean(schema))
        finally:
            self.depth -= 1

    def _clean(self, schema) -> dict:
        if not isinstance(schema, dict):
            return {}  # `true` (anything goes) has no Gemini spelling but an empty schema
        if "allOf" in schema:
            return self._merge_all_of(schema)
        for key, value in schema.items():
            if not _fits(key, value):
                self.dropped.add(f"{key} (not {_SHAPES[key][1]}: {_quote(value)})")
            elif key not in _HANDLED and key not in _SILENT:
                self.dropped.add(str(key)[:_QUOTE])
        union = _shaped(schema, "anyOf")
        if union is None:
            union = _shaped(schema, "oneOf")
            if union is not None:
                self.dropped.add("oneOf (sent as anyOf)")
        elif "oneOf" in schema:
            self.dropped.add("oneOf beside anyOf")
        if union is not None:
            return self._union(schema, union)
        types = _shaped(schema, "type")
        types = [types] if isinstance(types, str) else types or []
        nullable = "null" in types or schema.get("nullable") is True
        for unknown in {t for t in types if t not in TYPES and t != "null"}:
            self.dropped.add(f"type {_quote(unknown)}")
        types = [t for t in dict.fromkeys(types) if t in TYPES]  # so no subschema is converted twice
        if len(types) > 1:
            members = [self.size.grow(self._typed(schema, t)) for t in types]
            return _with_nullable({**_common(schema), "anyOf": members}, nullable)
        return _with_nullable(self._typed(schema, types[0] if types else None), nullable)

    # -- one type -------------------------------------------------------------

    def _typed(self, schema: dict, json_type) -> dict:
        gemini_type = TYPES.get(json_type) or _implied_type(schema)
        out = _common(schema)
        if gemini_type:
            out["type"] = gemini_type
        for key in _BY_TYPE.get(gemini_type, ()):
            if key in schema and _fits(key, schema[key]):
                out[key] = schema[key]
        fmt = _shaped(schema, "format")
        if fmt is not None:
            if fmt in _FORMATS.get(gemini_type, ()):
                out["format"] = fmt
            else:
                self.dropped.add(f"format {_quote(fmt)}")
        values = [schema["const"]] if "const" in schema else _shaped(schema, "enum")
        if values is not None:
            self._enum(out, values, gemini_type)
        if gemini_type == "ARRAY":
            out["items"] = self._items(schema)
        if gemini_type == "OBJECT":
            self._object(out, schema)
        return out

    def _enum(self, out: dict, values: list, gemini_type):
        if None in values:
            out["nullable"] = True
        values = [v for v in values if v is not None]
        if not values:
            return
        if gemini_type in ("BOOLEAN", "ARRAY", "OBJECT") or any(isinstance(v, (dict, list, bool)) for v in values):
            self.dropped.add("enum of non-string values")
            return
        if "type" not in out:
            out["type"] = ("STRING" if any(isinstance(v, str) for v in values)
                           else "INTEGER" if all(isinstance(v, int) for v in values) else "NUMBER")
        out["enum"] = [v if isinstance(v, str) else str(v) for v in values]

    def _items(self, schema: dict) -> dict:
        items = _shaped(schema, "items")
        if isinstance(items, (dict, bool)):
            return self.clean(items)
        if items:
            # The tuple form (draft 4 to 2019-09): the subset has one items schema, so any member will do.
            self.dropped.add("items as a list (sent as anyOf its members)")
            return self.size.grow(self._union({}, items))
        # Gemini rejects an ARRAY without items ("items: missing field"); strings are the
        # safest guess for a list of anything.
        self.dropped.add("array without items (sent as items of STRING)")
        return self.size.grow({"type": "STRING"})

    def _object(self, out: dict, schema: dict):
        properties = _shaped(schema, "properties")
        if properties is None:
            return
        out["properties"] = {name: self.clean(sub) for name, sub in properties.items()}
        required = schema.get("required")
        if isinstance(required, list):  # a malformed list was noted; its good names still count
            names = list(dict.fromkeys(name for name in required if isinstance(name, str) and name in properties))
            if names:
                out["required"] = names

    # -- combinations ----------------------------------------------------------

    def _union(self, schema: dict, members: list) -> dict:
        non_null = [m for m in members if not _is_null(m)]
        nullable = len(non_null) < len(members)
        cleaned = [self.clean(m) for m in non_null]
        if not cleaned:
            return _with_nullable(_common(schema), nullable)
        if len(cleaned) == 1:
            # `anyOf: [X, null]` is how JSON Schema says "optional X": Gemini says nullable X.
            return _with_nullable({**cleaned[0], **_common(schema)}, nullable)
        return _with_nullable({**_common(schema), "anyOf": cleaned}, nullable)

    def _merge_all_of(self, schema: dict) -> dict:
        members = _shaped(schema, "allOf")
        if members is None:
            self.dropped.add(f"allOf (not {_SHAPES['allOf'][1]}: {_quote(schema['allOf'])})")
        rest = {key: value for key, value in schema.items() if key != "allOf"}
        merged = dict(self.clean(rest)) if rest else {}  # copies: what clean returns may be shared
        properties, required = dict(merged.get("properties", {})), dict.fromkeys(merged.get("required", []))
        for member in members or ():
            for key, value in self.clean(member).items():
                if key == "properties":
                    properties.update(value)
                elif key == "required":
                    required.update(dict.fromkeys(value))
                else:
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = list(required)
        return merged

    def _inline(self, schema: dict) -> dict:
        ref = schema["$ref"]
        siblings = {key: value for key, value in schema.items() if key != "$ref" and key not in _INERT_BESIDE_REF}
        # A bare {"$ref": R} means the same everywhere; with siblings it is its own schema, keyed by
        # identity (the node is kept in the entry, so its id cannot be reused by another object).
        key = ref if isinstance(ref, str) and not siblings else id(schema)
        if key in self.converted:
            known = self.converted[key]
            self.size.deepen(self.depth + known.height)
            self.size.count(known.nodes, known.chars)
            return known.schema
        target = self._resolve(ref) if isinstance(ref, str) else None
        if target is None:
            self.dropped.add(f"$ref {_quote(ref)}")
            return self.clean(siblings) if siblings else self.size.grow({})
        if id(target) in self.expanding:
            self.dropped.add(f"recursive $ref {_quote(ref)}")
            return self.size.grow({**_common(siblings), "type": "OBJECT"})
        nodes, chars, deepest, self.size.deepest = self.size.nodes, self.size.chars, self.size.deepest, self.depth
        self.expanding.append(id(target))
        try:
            converted = self.clean({**target, **siblings})
        finally:
            self.expanding.pop()
        self.converted[key] = _Conversion(converted, self.size.nodes - nodes, self.size.chars - chars,
                                          self.size.deepest - self.depth, schema)
        self.size.deepest = max(deepest, self.size.deepest)
        return converted

    def _resolve(self, ref: str):
        """The dict a local JSON pointer names, or None (remote refs and #anchors: the gateway fetches nothing)."""
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node = self.root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isascii() and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return node if isinstance(node, dict) else None

def _shaped(schema: dict, key: str):
    """``schema[key]`` if present and of the right shape, else None (a wrong shape was noted when read)."""
    value = schema.get(key)
    return value if value is not None and _fits(key, value) else None


def _common(schema: dict) -> dict:
    return {key: schema[key] for key in _COMMON if key in schema and _fits(key, schema[key])}


def _with_nullable(schema: dict, nullable: bool) -> dict:
    if nullable:
        schema["nullable"] = True
    return schema


def _is_null(member) -> bool:
    return isinstance(member, dict) and member.get("type") == "null"


def _implied_type(schema: dict):
    """The type a schema without ``type`` evidently has, or None."""
    return "OBJECT" if isinstance(schema.get("properties"), dict) else "ARRAY" if "items" in schema else None


def _quote(value) -> str:
    """A short mention of a JSON value for a Loss; containers are only named (they can be huge or deep)."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return repr(value[:_QUOTE]) if isinstance(value, str) else str(value)[:_QUOTE]
