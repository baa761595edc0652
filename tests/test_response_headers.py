"""response_headers.parse_headers builds the very message http.client's own parse_headers builds."""

from __future__ import annotations

import http.client
import io
import random

import pytest

from droid2api import response_headers
from droid2api.response_headers import parse_headers
from droid2api.upstream import UpstreamClient

stdlib = response_headers._stdlib_parse_headers


def same_message(raw: bytes):
    """Parse ``raw`` both ways; each must leave the reader at the same place and build equal messages."""
    ours_fp, theirs_fp = io.BytesIO(raw), io.BytesIO(raw)
    ours, theirs = parse_headers(ours_fp), stdlib(theirs_fp)
    assert type(ours) is type(theirs) is http.client.HTTPMessage
    assert ours_fp.tell() == theirs_fp.tell()
    assert state(ours) == state(theirs), raw
    return ours


def state(message) -> dict:
    """Every attribute of an email message, nested messages and defects compared by what they hold."""
    attributes = dict(vars(message))
    attributes["defects"] = [type(defect) for defect in attributes["defects"]]
    if isinstance(attributes["_payload"], list):
        attributes["_payload"] = [state(part) for part in attributes["_payload"]]
    return attributes


def test_plain_lines_keep_names_as_sent_and_values_as_the_email_parser_reads_them(monkeypatch):
    def not_for_plain_lines(fp, _class):
        raise AssertionError("plain header lines went to the email parser")

    monkeypatch.setattr(response_headers, "_stdlib_parse_headers", not_for_plain_lines)
    message = parse_headers(io.BytesIO(raw := b"HTTP-ignored-not: here\r\nContent-Type:  application/json \r\n"
                           b"x-request-id:\tabc\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nEmpty:\r\n\r\nbody"))
    monkeypatch.undo()
    assert state(message) == state(stdlib(io.BytesIO(raw)))
    assert message.items() == [("HTTP-ignored-not", "here"), ("Content-Type", "application/json "),
                               ("x-request-id", "abc"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Empty", "")]
    assert message.get_all("set-cookie") == ["a=1", "b=2"]
    assert message.get_payload() == ""


@pytest.mark.parametrize("raw", [
    b"Folded: first\r\n  second\r\nNext: x\r\n\r\n",  # obs-fold continues the header before it
    b" leading: continuation\r\nA: b\r\n\r\n",
    b"From someone\r\nA: b\r\n\r\n",  # a unix-from line
    b"Bad Name: x\r\nA: b\r\n\r\n",  # not a header to the email parser: the body starts there
    b"NoColon\r\nA: b\r\n\r\n",
    b": empty name\r\n\r\n",
    b"A: b\rc\r\n\r\n",  # a bare CR splits the line for the email parser
    b"A: b\n\n",  # bare LF line ends
    b"A: b\r\nC: d",  # the input ends inside the headers
    b"A: b",
    b"",
    b"\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n",
    b"content-type:  Message/delivery-status\r\n\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n",  # no boundary: a defect
    "Caf\u00e9: cr\u00e8me\r\n\r\n".encode("latin-1"),  # not ASCII in the name
    "X: cr\u00e8me \u00ff\r\n\r\n".encode("latin-1"),  # latin-1 in the value is kept as such
    b"X: \x00\x7f\r\n\r\n",
])
def test_unusual_blocks_match_the_stdlib(raw):
    same_message(raw)


def test_generated_blocks_match_the_stdlib(monkeypatch):
    names = [b"Name", b"x-Y", b"a", b"Content-Type", b"content-type", b"From", b"Bad Name", b"", b" lead", b"\xe9"]
    values = [b"value", b" v ", b"\tv", b"", b"multipart/x", b"message/y", b"text/plain", b"a:b", b"\r", b"\xe9",
              b"\x00", b"=;,"]
    ends = [b"\r\n", b"\r\n", b"\n", b"\r"]
    fallbacks = []
    monkeypatch.setattr(response_headers, "_stdlib_parse_headers",
                        lambda fp, _class: fallbacks.append(1) or stdlib(fp, _class))
    rng = random.Random(20261130)
    for _ in range(3000):
        lines = [rng.choice(names) + rng.choice([b":", b": ", b" "]) + rng.choice(values) + rng.choice(values) +
                 rng.choice(ends) for _ in range(rng.randint(0, 5))]
        same_message(b"".join(lines) + rng.choice([b"", b"\r\n", b"\r\n\r\n", b"\n\nrest"]))
    assert 300 < len(fallbacks) < 2700  # both paths were taken, often


def test_limits_are_the_stdlibs():
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        parse_headers(io.BytesIO(b"A: b\r\n" * 101 + b"\r\n"))
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(b"A: " + b"x" * 70000 + b"\r\n\r\n"))


def test_the_upstream_client_installs_it():
    UpstreamClient([]).close()
    assert http.client.parse_headers is parse_headers
