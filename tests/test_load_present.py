"""validation.load_present: a schema narrowed to the fields a body has loads exactly as the whole schema."""

from __future__ import annotations

import itertools

import pytest
from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, post_load, pre_load

from droid2api import validation
from droid2api.dialects.openai_chat.schema import CHAT_REQUEST
from droid2api.validation import load_present


class Sample(Schema):
    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True)
    kind = fields.String(load_default="plain")
    size = fields.Integer(strict=True, allow_none=True)
    tags = fields.List(fields.String())
    note = fields.String(allow_none=True)

    @post_load
    def _seen(self, data, **kwargs):
        return {**data, "fields_seen": sorted(self.fields)}


SAMPLE = Sample()


def outcome(schema, data):
    try:
        return "loaded", schema.load(data)
    except ValidationError as e:
        return "refused", e.messages


BODIES = [
    {"name": "a"}, {"name": "a", "size": 3}, {"name": "a", "kind": "x", "tags": ["t"], "note": None},
    {"size": "3"}, {"name": 5, "tags": "t"}, {"name": "a", "extra": 1, "other": [2]}, {}, {"name": "a", "size": True},
]


@pytest.mark.parametrize("data", BODIES)
def test_results_and_errors_are_the_whole_schemas(data):
    narrowed = outcome_of_load_present(SAMPLE, data)
    whole = outcome(Sample(), data)
    if narrowed[0] == "loaded":  # the post_load hook saw fewer fields, which is the point; the data is the same
        assert {k: v for k, v in narrowed[1].items() if k != "fields_seen"} == \
            {k: v for k, v in whole[1].items() if k != "fields_seen"}
        assert set(narrowed[1]["fields_seen"]) == ({"name", "kind"} | set(data)) & set(Sample().fields)
    else:
        assert narrowed == whole


def outcome_of_load_present(schema, data):
    try:
        return "loaded", load_present(schema, data)
    except ValidationError as e:
        return "refused", e.messages


def test_a_chat_body_of_every_shape_loads_as_with_the_whole_schema():
    whole = type(CHAT_REQUEST)()
    optional = {"stream": True, "temperature": 0.5, "max_tokens": 10, "stop": "x", "user": "u", "seed": 1.5,
                "top_p": 3, "tools": [{"type": "function", "function": {"name": "f"}}], "unknown_extra": {"a": 1}}
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for size in (0, 1, 2, 3):
        for names in itertools.combinations(optional, size):
            body = {**base, **{name: optional[name] for name in names}}
            assert outcome_of_load_present(CHAT_REQUEST, body) == outcome(whole, body), body


def test_a_schema_with_a_pre_load_hook_or_renamed_keys_is_loaded_whole():
    class Renaming(Schema):
        class Meta:
            unknown = EXCLUDE

        camelCase = fields.String()
        other = fields.String(data_key="Other")

        @pre_load
        def _rename(self, data, **kwargs):
            return {"camelCase" if k == "camel_case" else k: v for k, v in data.items()}

    schema = Renaming()
    assert load_present(schema, {"camel_case": "x", "Other": "y"}) == {"camelCase": "x", "other": "y"}
    assert schema._narrowing.names is None


def test_copies_are_made_once_per_shape_and_bounded(monkeypatch):
    schema = Sample()
    load_present(schema, {"name": "a"})
    load_present(schema, {"name": "b", "junk": 1})  # unknown fields do not make another shape
    assert list(schema._narrowing.copies) == [frozenset({"name"})]
    monkeypatch.setattr(validation, "_MAX_NARROWED", 2)
    load_present(schema, {"name": "a", "size": 1})
    load_present(schema, {"name": "a", "note": "n"})
    assert list(schema._narrowing.copies) == [frozenset({"name", "note"})]


def test_what_is_not_an_object_gets_marshmallows_own_error():
    with pytest.raises(ValidationError) as refused:
        load_present(SAMPLE, ["not", "an", "object"])
    assert refused.value.messages == {"_schema": ["Invalid input type."]}


PLAIN_CONTENTS = ["", "hi", "What is the capital of France?", "é 漢字 \U0001F600", "\ud800 lone", " " * 3, "a\nb"]


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant"])
@pytest.mark.parametrize("content", PLAIN_CONTENTS)
def test_a_plain_chat_message_loads_by_its_shortcut_exactly_as_through_its_schema(role, content):
    from droid2api.dialects.openai_chat.schema import MESSAGES

    message = {"role": role, "content": content}
    plain = MESSAGES[role].load_plain(message)

    assert plain is not None  # the shortcut was taken
    assert plain == load_present(MESSAGES[role], message)
    assert plain == validation.Tagged(MESSAGES, tag="role").deserialize(message)


@pytest.mark.parametrize("message", [
    {"role": "user", "content": "hi", "name": "ann"},  # a third field
    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    {"role": "assistant", "content": None},
    {"role": "user", "content": 7},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                                                         "function": {"name": "f", "arguments": "{}"}}]},
])
def test_any_other_message_shape_goes_through_the_schema(message):
    from droid2api.dialects.openai_chat.schema import MESSAGES

    field = validation.Tagged(MESSAGES, tag="role")

    assert MESSAGES[message["role"]].load_plain(message) is None
    through_schema = result(lambda data: load_present(MESSAGES[data["role"]], data), message)
    assert result(field.deserialize, message) == through_schema


def test_messages_whose_schema_needs_more_than_role_and_content_have_no_shortcut():
    from droid2api.dialects.openai_chat.schema import MESSAGES

    assert not hasattr(MESSAGES["tool"], "load_plain") and not hasattr(MESSAGES["function"], "load_plain")
    with pytest.raises(ValidationError) as refused:
        validation.Tagged(MESSAGES, tag="role").deserialize({"role": "tool", "content": "x"})
    assert "tool_call_id" in refused.value.messages


def result(load, data):
    try:
        return "loaded", load(data)
    except ValidationError as e:
        return "refused", e.messages
