"""wire.dumps and wire.dump_bytes: orjson's speed, and the json module for everything orjson will not write."""

from __future__ import annotations

import json

import pytest

from droid2api.wire import dump_bytes, dumps, loads_or_none

PLAIN = {"model": "m", "messages": [{"role": "user", "content": "caf\u00e9 \U0001f600"}], "n": 1, "t": 0.5,
         "ok": True, "none": None}


def test_plain_values_come_out_compact_and_utf8():
    assert dump_bytes(PLAIN) == json.dumps(PLAIN, ensure_ascii=False, separators=(",", ":")).encode()
    assert dumps(PLAIN) == json.dumps(PLAIN, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("value", [
    {"text": "half an emoji \ud83d"},  # a lone surrogate: no UTF-8 for it
    {"seed": 2 ** 70, "negative": -(2 ** 64)},  # past 64 bits
    {1: "a", None: "b"},  # keys the json module turns into strings
    json.loads("[" * 300 + "]" * 300),  # deeper than orjson writes
])
def test_what_orjson_will_not_write_the_json_module_does(value):
    for encoded in (dump_bytes(value), dumps(value).encode()):
        assert json.loads(encoded) == json.loads(json.dumps(value))


def test_a_lone_surrogate_goes_out_as_the_escape_the_client_sent():
    assert dump_bytes({"text": "\ud83d"}) == b'{"text":"\\ud83d"}'  # the same escape the client sent
    assert dumps({"text": "\ud83d x \u00e9"}) == '{"text":"\\ud83d x \\u00e9"}'


@pytest.mark.parametrize("text, parsed", [
    ('{"a":[1,2.5,"x"]}', {"a": [1, 2.5, "x"]}),
    (' {"a":1} ', {"a": 1}),  # blanks around: json.loads takes them
    ('"\\ud83d"', "\ud83d"),
    ('{"a":1', None), ('[1,2] x', None), ('', None), ('[' * 100000, None),
    (b'{"a":1}', {"a": 1}),
])
def test_loads_or_none_reads_what_json_loads_reads(text, parsed):
    assert loads_or_none(text) == parsed
