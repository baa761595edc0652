"""Tests of the schema conversions both ways: Gemini's subset to JSON Schema (json_schema.py) and back (schema.py).

A Gemini client's tool parameters and response schemas must mean the same to every other upstream, and
come back to Gemini as they were written: ``clean_schema(to_json_schema(s)) == s`` for any schema of the
subset, which a Hypothesis property checks on generated ones. Going the other way, a JSON Schema inside
what the subset can say is itself again after a trip through Gemini's spelling.
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from droid2api.dialects.gemini.json_schema import SchemaProblem, to_json_schema
from droid2api.dialects.gemini.schema import clean_schema
from droid2api.dialects.gemini.schema_size import MAX_DEPTH

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)


def test_a_gemini_schema_in_json_schema_words():
    gemini = {
        "type": "OBJECT", "description": "A query.", "propertyOrdering": ["q", "n"],
        "properties": {
            "q": {"type": "STRING", "nullable": True, "enum": ["a", "b"], "format": "enum"},
            "n": {"type": "INTEGER", "enum": ["101", "201"], "minimum": 1, "example": 101},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": "1", "max_items": 3},
            "either": {"any_of": [{"type": "STRING"}, {"type": "NUMBER", "format": "double"}], "nullable": True},
            "any": {"type": "TYPE_UNSPECIFIED", "nullable": True},
            "max_items": {"type": "BOOLEAN", "default": False},  # a property's name is the client's own
        },
        "required": ["q"],
    }
    assert to_json_schema(gemini) == {
        "type": "object", "description": "A query.", "propertyOrdering": ["q", "n"],
        "properties": {
            "q": {"type": ["string", "null"], "enum": ["a", "b", None], "format": "enum"},
            "n": {"type": "integer", "enum": [101, 201], "minimum": 1, "example": 101},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "either": {"anyOf": [{"type": "string"}, {"type": "number", "format": "double"}, {"type": "null"}]},
            "any": {},
            "max_items": {"type": "boolean", "default": False},
        },
        "required": ["q"],
    }


def test_json_schema_keywords_a_client_put_there_are_kept():
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}},
              "additionalProperties": False, "$defs": {"b": {"type": "INTEGER"}}}
    assert to_json_schema(schema) == {**schema, "$defs": {"b": {"type": "integer"}}}


@pytest.mark.parametrize("schema, keys", [
    ("OBJECT", ()),
    ({"type": "OBJECT", "properties": {"a": {"type": "WORD"}}}, ("properties", "a", "type")),
    ({"type": 5}, ("type",)),
    ({"type": []}, ("type",)),
    ({"properties": []}, ("properties",)),
    ({"anyOf": {"type": "STRING"}}, ("anyOf",)),
    ({"anyOf": [{"type": "STRING"}, 5]}, ("anyOf", 1)),
    ({"items": "STRING"}, ("items",)),
    ({"nullable": "yes"}, ("nullable",)),
    ({"enum": "a"}, ("enum",)),
    ({"maxItems": -1}, ("maxItems",)),
    ({"min_length": "two"}, ("minLength",)),
])
def test_what_is_no_schema_is_a_problem_naming_where(schema, keys):
    with pytest.raises(SchemaProblem) as caught:
        to_json_schema(schema)
    assert caught.value.keys == keys


def test_absurd_nesting_is_a_problem_not_a_recursion_error():
    schema = {"type": "STRING"}
    for _ in range(MAX_DEPTH * 3):
        schema = {"type": "ARRAY", "items": schema}
    with pytest.raises(SchemaProblem, match="too deeply"):
        to_json_schema(schema)


# -- both ways -----------------------------------------------------------------------------------------------

NAMES = st.text("abcxyz_", min_size=1, max_size=6)
TEXT = st.text(max_size=10)
COMMON = st.fixed_dictionaries({}, optional={"title": TEXT, "description": TEXT, "default": st.integers() | TEXT,
                                             "example": st.booleans() | TEXT})
NULLABLE = st.fixed_dictionaries({}, optional={"nullable": st.just(True)})


def _typed(type_name: str, extra: dict):
    return st.builds(lambda common, nullable, extra: {**common, **nullable, "type": type_name, **extra},
                     COMMON, NULLABLE, st.fixed_dictionaries({}, optional=extra))


SCALARS = st.one_of(
    _typed("STRING", {"enum": st.lists(TEXT, min_size=1, max_size=3, unique=True), "format": st.just("date-time"),
                      "minLength": st.integers(0, 9), "maxLength": st.integers(0, 9), "pattern": TEXT}),
    _typed("INTEGER", {"enum": st.lists(st.integers(-99, 99).map(str), min_size=1, max_size=3, unique=True),
                       "format": st.sampled_from(["int32", "int64"]), "minimum": st.integers(-9, 9)}),
    _typed("NUMBER", {"format": st.sampled_from(["float", "double"]), "maximum": st.floats(-9, 9)}),
    _typed("BOOLEAN", {}),
)


def _objects(children):
    @st.composite
    def build(draw):
        properties = draw(st.dictionaries(NAMES, children, max_size=3))
        schema = draw(_typed("OBJECT", {"minProperties": st.integers(0, 3)}))
        if properties:
            schema["properties"] = properties
            required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
            if required:
                schema["required"] = required
            if draw(st.booleans()):
                schema["propertyOrdering"] = list(properties)
        return schema
    return build()


def _arrays(children):
    return st.builds(lambda schema, items: {**schema, "items": items},
                     _typed("ARRAY", {"minItems": st.integers(0, 3), "maxItems": st.integers(0, 3)}), children)


def _unions(children):
    return st.builds(lambda common, nullable, members: {**common, **nullable, "anyOf": members},
                     COMMON, NULLABLE, st.lists(children, min_size=2, max_size=3))


GEMINI_SCHEMAS = st.recursive(SCALARS, lambda children: _objects(children) | _arrays(children) | _unions(children),
                              max_leaves=8)


@given(GEMINI_SCHEMAS)
def test_a_gemini_schema_comes_back_from_json_schema_as_it_was(schema):
    losses = []
    assert clean_schema(to_json_schema(schema), losses, "parameters") == schema
    assert losses == []


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": ["string", "null"]}, "b": {"type": "array",
                                                                             "items": {"type": "integer"}}},
     "required": ["a"]},
    {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}, {"type": "null"}], "description": "x"},
    {"type": ["integer", "null"], "enum": [1, 2, None]},
    {"type": "string", "format": "date-time", "minLength": 1, "title": "When"},
    {"type": "object"},
])
def test_a_json_schema_the_subset_can_say_comes_back_as_it_was(schema):
    losses = []
    assert to_json_schema(clean_schema(schema, losses, "parameters")) == schema
    assert losses == []
