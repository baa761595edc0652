"""Hypothesis strategies that damage JSON request bodies the way careless or hostile clients do.

``damaged_bodies(seeds)`` starts from a realistic body and applies a few
mutations at random paths: a value of the wrong type, a missing or unknown key,
a lone surrogate, a huge or non-finite number, a long string, deep nesting.
The result is the raw bytes a client would send, sometimes also broken at the
byte level (invalid UTF-8, cut short). ``raw_bodies()`` are bodies that are
not a JSON object at all.
"""

from __future__ import annotations

import copy
import json

from hypothesis import strategies as st

DEEP = 5000  # levels of nesting: far past Python's recursion limit


class Raw:
    """A JSON literal json.dumps cannot write (``1e400``, ``NaN``, 5,000 digits), spliced into the text."""

    def __init__(self, literal: str):
        self.literal = literal

    def __repr__(self):
        return f"Raw({self.literal[:20]!r}{'...' if len(self.literal) > 20 else ''})"


RAW_LITERALS = [
    Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"),
    Raw(str(10 ** 400)), Raw("-" + str(10 ** 400)),
    Raw("[" * DEEP + "]" * DEEP), Raw('{"a":' * DEEP + "1" + "}" * DEEP),
]
# More digits than Python converts (sys.get_int_max_str_digits()): json.loads raises a ValueError that is
# no JSONDecodeError.
TOO_MANY_DIGITS = Raw("1" * 5000)
RAW_LITERALS.append(TOO_MANY_DIGITS)

# Strings that mean something to some decoder: discriminators, data URLs, JSON inside strings.
MEANINGFUL_STRINGS = [
    "", " ", "user", "assistant", "system", "developer", "tool", "function", "text", "image_url", "image",
    "input_text", "function_call", "function_call_output", "reasoning", "tool_use", "tool_result",
    "json_schema", "json_object", "auto", "none", "required", "any", "enabled", "disabled",
    "reasoning.text", "reasoning.encrypted", "reasoning.summary", "anthropic-claude-v1",
    "data:image/png;base64,", "data:,", "data:image/png;base64,iVBORw0KGgo=", "gs://b/x.png",
    "{", "{}", "[]", '{"a":' * 50, "[" * DEEP, "null", "NaN",
    "\ud83d", "hi \ud83d x", "\udfff", "\x00", "\u2028", "é" * 3, "x" * 100_000,
]

WELL_KNOWN_KEYS = [
    "model", "messages", "role", "content", "type", "text", "tools", "tool_choice", "function", "name",
    "arguments", "parameters", "properties", "required", "items", "anyOf", "$ref", "allOf", "enum", "input",
    "instructions", "system", "stream", "stream_options", "max_tokens", "thinking", "reasoning",
    "reasoning_effort", "reasoning_details", "response_format", "json_schema", "schema", "metadata",
    "cache_control", "image_url", "url", "source", "tool_calls", "tool_call_id", "extra_content", "google",
    "thought_signature", "signature", "stop", "n", "temperature", "top_p", "top_k", "seed", "format",
]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 63, 10 ** 400, -(10 ** 400)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.sampled_from(MEANINGFUL_STRINGS),
    st.sampled_from(RAW_LITERALS),
)
keys = st.one_of(st.sampled_from(WELL_KNOWN_KEYS), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=6)


def _slots(node, found: list) -> list:
    """Every (container, key) pair in ``node``, depth first: the places a mutation can hit."""
    keys_here = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
    for key in keys_here:
        found.append((node, key))
        _slots(node[key], found)
    return found


@st.composite
def _mutate(draw, body: dict):
    """One mutation at a path of ``body`` picked uniformly, so deep fields are hit as often as top-level ones."""
    slots = _slots(body, [])
    action = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]))
    if action == "add" or not slots:
        objects = [body, *(parent[key] for parent, key in slots if isinstance(parent[key], dict))]
        draw(st.sampled_from(objects))[draw(keys)] = draw(values)
        return
    parent, key = draw(st.sampled_from(slots))
    if action == "delete":
        del parent[key]
    elif action == "wrap":
        parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, [[parent[key]]]]))
    else:
        parent[key] = draw(values)


def encode(body, ascii_only: bool = True) -> bytes:
    """``body`` as a client would send it, with each Raw literal spliced in.

    With ``ascii_only`` a lone surrogate travels as its ``\\uXXXX`` escape (valid JSON); without
    it, as the bytes ``surrogatepass`` gives (not valid UTF-8).
    """
    literals = {}

    def placeholders(value):
        if isinstance(value, Raw):
            token = f"@@raw{len(literals)}@@"
            literals[json.dumps(token)] = value.literal
            return token
        if isinstance(value, dict):
            return {k: placeholders(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholders(v) for v in value]
        return value

    text = json.dumps(placeholders(body), ensure_ascii=ascii_only)
    for token, literal in literals.items():
        text = text.replace(token, literal, 1)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def damaged_bodies(draw, seeds: list, models: list) -> bytes:
    body = copy.deepcopy(draw(st.sampled_from(seeds)))
    body["model"] = draw(st.sampled_from(models))
    for _ in range(draw(st.integers(0, 3))):
        draw(_mutate(body))
    raw = encode(body, ascii_only=draw(st.booleans()))
    damage = draw(st.sampled_from(["none"] * 6 + ["bad utf-8", "cut"]))
    if damage == "bad utf-8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\xbd", b"\x80"])) + raw[at:]
    elif damage == "cut":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    return raw


def raw_bodies():
    """Bodies that are not one readable JSON object."""
    return st.one_of(
        st.sampled_from([b"", b" ", b"null", b"[]", b"[{}]", b'"model"', b"1", b"1e400", b"true",
                         b"\xef\xbb\xbf{}", b"{}", b'{"model": null}', b"{" * DEEP, b"[" * DEEP + b"]" * DEEP,
                         b'{"model": ' + b"[" * DEEP + b"]" * DEEP + b"}", b'{"model": "\xff"}']),
        st.binary(max_size=40),
        st.builds(lambda value: encode(value), values),
    )
