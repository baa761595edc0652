"""Tests of the JSON Schema rewrite for Gemini on hostile input: $ref expansion, malformed keywords, any JSON.

The field list checked against is the one the Gemini API reference gives for ``Schema``
(generativelanguage v1beta), not this code's; the ordinary conversions are tested in
test_gemini_codec.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import responses
from hypothesis import given, strategies as st

from droid2api import ir
from droid2api.dialects import gemini
from droid2api.dialects.gemini.schema import clean_schema
from droid2api.dialects.gemini.schema_size import MAX_DEPTH, MAX_EXPANDED_NODES
from droid2api.errors import GatewayError
from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import app_for

GEMINI_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
                 "properties", "required", "minProperties", "maxProperties", "propertyOrdering", "minLength",
                 "maxLength", "pattern", "minimum", "maximum", "anyOf", "default", "example"}
GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
TOOL = "the parameters schema of tool 'lookup'"
PUBLIC = SimpleNamespace(factory=False, upstream_model="gemini-2.5-flash")


def clean(schema) -> tuple[dict, list]:
    losses = []
    return clean_schema(schema, losses, "tools[0].parameters", owner=TOOL), losses


def lost(losses: list) -> str:
    return " ".join(loss.reason for loss in losses)


def diamond(levels: int, leaf: dict | None = None) -> dict:
    """D0 has two properties that are both D1, D1 two that are both D2...: 2**levels leaves once inlined."""
    defs = {f"D{i}": {"type": "object", "properties": {"left": {"$ref": f"#/$defs/D{i + 1}"},
                                                       "right": {"$ref": f"#/$defs/D{i + 1}"}}}
            for i in range(levels)}
    defs[f"D{levels}"] = leaf or {"type": "string", "description": "leaf"}
    return {"$ref": "#/$defs/D0", "$defs": defs}


def expanded(levels: int) -> dict:
    """What the diamond means with every reference written out, as Gemini's subset spells it."""
    if levels == 0:
        return {"type": "STRING", "description": "leaf"}
    return {"type": "OBJECT", "properties": {"left": expanded(levels - 1), "right": expanded(levels - 1)}}


def distinct_nodes(schema: dict, seen: set | None = None) -> set:
    seen = set() if seen is None else seen
    if id(schema) not in seen:
        seen.add(id(schema))
        for child in children(schema):
            distinct_nodes(child, seen)
    return seen


# -- $ref expansion -----------------------------------------------------------------------------


def test_a_diamond_of_definitions_is_converted_once_and_shared():
    cleaned, _ = clean(diamond(12))
    assert cleaned == expanded(12)  # the same meaning as inlining every $ref...
    assert len(distinct_nodes(cleaned)) == 13  # ...held as one object per definition, not 8191
    assert cleaned["properties"]["left"] is cleaned["properties"]["right"]


def test_a_shared_conversion_is_never_changed_by_where_it_is_used():
    defs = {"A": {"type": "object", "properties": {"x": {"type": "string"}}}}
    cleaned, _ = clean({"type": "object", "$defs": defs, "properties": {
        "plain": {"$ref": "#/$defs/A"},
        "described": {"$ref": "#/$defs/A", "description": "beside the ref"},
        "optional": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}], "title": "opt"},
        "merged": {"allOf": [{"$ref": "#/$defs/A"}, {"properties": {"y": {"type": "integer"}}}]},
        "again": {"$ref": "#/$defs/A"},
    }})
    a = {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}}
    assert cleaned["properties"] == {
        "plain": a, "again": a,
        "described": {**a, "description": "beside the ref"},
        "optional": {**a, "title": "opt", "nullable": True},
        "merged": {"type": "OBJECT", "properties": {"x": {"type": "STRING"}, "y": {"type": "INTEGER"}}},
    }
    assert cleaned["properties"]["plain"] is cleaned["properties"]["again"]


def test_a_schema_too_large_when_expanded_is_a_400_naming_the_tool():
    request = ir.Request(model="m", messages=[ir.Message("user", [ir.Text("hi")])],
                         tools=[ir.Tool("small", None, {"type": "object", "properties": {"q": {"type": "string"}}}),
                                ir.Tool("lookup", "finds things", diamond(20))])
    with pytest.raises(GatewayError) as caught:
        gemini.encode_request(request, [], PUBLIC)
    error = caught.value
    assert error.status == 400 and error.param == "tools[1].parameters"
    assert "tool 'lookup'" in error.message and "too large when expanded" in error.message
    assert f"{MAX_EXPANDED_NODES:,}" in error.message and "no references" in error.message and "$ref" in error.message


def test_an_oversized_response_schema_is_a_400_at_response_format():
    request = ir.Request(model="m", messages=[ir.Message("user", [ir.Text("hi")])],
                         response_format=ir.ResponseFormat("json_schema", schema=diamond(20)))
    with pytest.raises(GatewayError) as caught:
        gemini.encode_request(request, [], PUBLIC)
    assert caught.value.status == 400 and caught.value.param == "response_format.schema"
    assert "response_format schema" in caught.value.message


def test_text_repeated_by_expansion_counts_towards_the_bound():
    # 64 copies of a 100 KB description is 6.4 MB of request body, though only 127 nodes.
    with pytest.raises(GatewayError) as caught:
        clean(diamond(6, leaf={"type": "string", "description": "x" * 100_000}))
    assert caught.value.status == 400 and "characters" in caught.value.message and TOOL in caught.value.message


@pytest.mark.parametrize("schema, expected", [
    ({"type": "object", "properties": {"a": {"$ref": "#"}}},
     {"type": "OBJECT", "properties": {"a": {"type": "OBJECT"}}}),
    ({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                                     "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}}},
     {"type": "OBJECT", "properties": {"b": {"type": "OBJECT", "properties": {"a": {"type": "OBJECT"}}}}}),
])
def test_recursive_references_end_in_a_plain_object(schema, expected):
    cleaned, losses = clean(schema)
    assert cleaned == expected and "recursive $ref" in lost(losses)


def test_absurd_nesting_is_a_400_not_a_recursion_error():
    deep = {"type": "string"}
    for _ in range(1000):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(GatewayError) as caught:
        clean(deep)
    assert caught.value.status == 400 and f"more than {MAX_DEPTH} levels" in caught.value.message
    assert caught.value.param == "tools[0].parameters" and TOOL in caught.value.message
    chain = {"$ref": "#/$defs/A0", "$defs": {f"A{i}": {"$ref": f"#/$defs/A{i + 1}"} for i in range(1000)}}
    with pytest.raises(GatewayError):
        clean(chain)
    reasonable = {"type": "string"}
    for _ in range(30):
        reasonable = {"type": "object", "properties": {"a": reasonable}}
    assert clean(reasonable)[0]["properties"]["a"]["type"] == "OBJECT"


def test_a_large_schema_through_the_chat_endpoint_is_a_400_before_any_upstream_call():
    tool = {"type": "function", "function": {"name": "lookup", "parameters": diamond(20)}}
    body = {"model": "gemini-test", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    with responses.RequestsMock():  # no upstream registered: a call would fail the test
        answer = app_for().test_client().post("/v1/chat/completions", json=body)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["param"] == "tools[0].parameters" and "tool 'lookup'" in error["message"]


# -- malformed keywords ---------------------------------------------------------------------------


@pytest.mark.parametrize("required", [True, "a", [1, {}], None, {"a": True}, 5, [["a"]]])
def test_a_malformed_required_is_dropped_and_noted(required):
    cleaned, losses = clean({"type": "object", "properties": {"a": {"type": "string"}}, "required": required})
    assert cleaned == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}
    assert "required (not a list of property names" in lost(losses)


def test_the_good_names_of_a_partly_malformed_required_still_count():
    cleaned, losses = clean({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", 1, "a", "c", "b"]})
    assert cleaned["required"] == ["a", "b"] and "required" in lost(losses)


@pytest.mark.parametrize("keyword, value", [
    ("properties", []), ("properties", "a"), ("items", 5), ("items", "x"), ("enum", "abc"), ("enum", 5),
    ("type", {}), ("type", 5), ("type", [1]), ("anyOf", {}), ("oneOf", 5), ("allOf", "x"), ("$ref", 5),
    ("$ref", {}), ("$ref", "#/$defs/missing"), ("$ref", "#anchor"), ("nullable", "yes"), ("format", 5),
    ("description", ["x"]), ("minLength", -1), ("maximum", "10"), ("$defs", []), ("propertyOrdering", "a"),
])
def test_a_malformed_keyword_is_dropped_and_noted(keyword, value):
    cleaned, losses = clean({"type": "object", "properties": {"a": {"type": "string", keyword: value}}})
    assert isinstance(cleaned, dict) and keyword in lost(losses)
    assert_gemini_schema(cleaned)


# -- any JSON at all ------------------------------------------------------------------------------


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=8)
NAMES = st.sampled_from(["a", "b", "c"])
TYPE_NAMES = st.sampled_from(["string", "number", "integer", "boolean", "array", "object", "null", "date"])
REFS = st.sampled_from(["#", "#/$defs/A", "#/$defs/B", "#/definitions/A", "#/properties/a", "#/$defs/A/properties/b",
                        "#/allOf/0", "#/$defs/missing", "#A", "other.json#/x", "#/$defs/A/items/9"])


def with_keywords(children):
    """Dicts of real keywords whose values are usually the right shape and sometimes any JSON."""
    subschemas = st.lists(children, max_size=3)
    definitions = st.dictionaries(st.sampled_from(["A", "B"]), children, max_size=2)
    values = {
        "type": TYPE_NAMES | st.lists(TYPE_NAMES, max_size=3) | JSON,
        "properties": st.dictionaries(NAMES, children, max_size=3) | JSON,
        "required": st.lists(NAMES | JSON, max_size=3) | JSON,
        "items": children | subschemas | JSON,
        "enum": st.lists(JSON, max_size=3) | JSON, "const": JSON,
        "anyOf": subschemas | JSON, "oneOf": subschemas | JSON, "allOf": subschemas | JSON,
        "$ref": REFS | JSON, "$defs": definitions | JSON, "definitions": definitions | JSON,
        "nullable": st.booleans() | JSON,
        "format": st.sampled_from(["date-time", "enum", "int32", "float", "uri"]) | JSON,
        "title": st.text(max_size=4) | JSON, "description": st.text(max_size=4) | JSON,
        "default": JSON, "example": JSON, "pattern": st.text(max_size=4) | JSON,
        "minLength": st.integers(-1, 3) | JSON, "maxItems": st.floats(0, 3) | JSON, "minimum": JSON,
        "propertyOrdering": st.lists(NAMES, max_size=3) | JSON,
        "additionalProperties": children, "not": children, "$schema": JSON, "x-vendor": JSON,
    }
    # A few keywords per dict (drawing all thirty every time is slow and no more varied), on top of
    # the structures where keywords meet: objects with required names, references, arrays.
    keywords = st.lists(st.sampled_from(sorted(values)), max_size=4, unique=True)
    extra = keywords.flatmap(lambda chosen: st.fixed_dictionaries({key: values[key] for key in chosen}))
    core = st.one_of(
        st.just({}),
        st.fixed_dictionaries({"properties": st.dictionaries(NAMES, children, max_size=3),
                               "required": values["required"]}, optional={"type": st.just("object")}),
        st.fixed_dictionaries({"$ref": REFS}),
        st.fixed_dictionaries({"type": st.just("array"), "items": values["items"]}),
    )
    return st.builds(lambda extra, core: {**extra, **core}, extra, core)


NODES = st.recursive(with_keywords(JSON), with_keywords, max_leaves=25)
DEFINITIONS = st.dictionaries(st.sampled_from(["A", "B"]), NODES, min_size=1, max_size=2)
# Definitions at the root, where references point, so that they resolve, chain and recurse.
SCHEMAS = JSON | NODES | st.builds(lambda root, defs: {**root, "$defs": defs}, NODES, DEFINITIONS)


@given(SCHEMAS)
def test_any_json_becomes_a_gemini_schema_or_a_400(schema):
    losses = []
    try:
        cleaned = clean_schema(schema, losses, "tools[0].parameters", owner=TOOL)
    except GatewayError as error:
        assert error.status == 400 and error.param == "tools[0].parameters" and TOOL in error.message
        return
    assert isinstance(cleaned, dict)
    json.dumps(cleaned)  # it can be sent
    assert_gemini_schema(cleaned)
    assert all(isinstance(loss, ir.Loss) and loss.field == "tools[0].parameters" for loss in losses)


def assert_gemini_schema(schema, seen=None):
    """Every node has only the fields of Gemini's Schema, with values of the types it documents."""
    seen = set() if seen is None else seen
    if id(schema) in seen:
        return
    seen.add(id(schema))
    assert isinstance(schema, dict) and set(schema) <= GEMINI_FIELDS, schema
    assert schema.get("type", "STRING") in GEMINI_TYPES
    assert all(isinstance(value, str) for value in schema.get("enum", []))
    assert isinstance(schema.get("nullable", True), bool)
    for key in ("title", "description", "format", "pattern"):
        assert isinstance(schema.get(key, ""), str)
    properties = schema.get("properties", {})
    assert isinstance(properties, dict)
    required = schema.get("required", [])
    assert isinstance(required, list) and set(required) <= set(properties) and len(set(required)) == len(required)
    assert isinstance(schema.get("anyOf", []), list)
    if schema.get("type") == "ARRAY":
        assert "items" in schema
    for child in children(schema):
        assert_gemini_schema(child, seen)


def children(schema: dict) -> list:
    return [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *filter(None, [schema.get("items")])]
