"""A faster ``http.client.parse_headers`` for the plain header lines upstreams send.

Every upstream answer passes through http.client, which hands its header lines
to the email package's feed parser: a general MIME parser, and the largest
single cost of a relayed call that is not I/O (about 7% of the CPU of a small
passthrough request, README, Speed). For lines of the form ``Name: value``
the result is simple: the name as sent, the value without its leading blanks
and its line end. ``parse_headers`` builds exactly that message, through the
same HTTPMessage class and its public setters, and hands anything else to the
stdlib's parser untouched: folded lines, a name the email parser would not
take, a stray carriage return, a multipart or message content type (which
that parser reads further). tests/test_response_headers.py compares the two
on generated and hostile header blocks, attribute for attribute.

``install`` puts it in place of http.client's function, which ``HTTPResponse.begin``
looks up at each call; it changes nothing else.
"""

from __future__ import annotations

import http.client
import re

# The header names email.feedparser accepts (its headerRE): printable ASCII but the colon, no blanks.
_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
# Content types after whose headers the email parser goes on reading parts; it alone handles them.
_NESTED_TYPES = (b"multipart/", b"message/")
_stdlib_parse_headers = http.client.parse_headers


def parse_headers(fp, _class=http.client.HTTPMessage):
    """What ``http.client.parse_headers(fp, _class)`` returns, read from the same lines."""
    lines = http.client._read_headers(fp)  # noqa: SLF001 - the stdlib's own line reader and limits
    message = _class()
    for line in lines[:-1]:  # the last is the blank line that ends the headers, or b"" at the end of input
        name, colon, value = line.partition(b":")
        if value.endswith(b"\n"):  # not when the input ended inside the headers
            value = value[:-2] if value.endswith(b"\r\n") else value[:-1]
        if (not colon or not _NAME.fullmatch(name) or b"\r" in value
                or (name.lower() == b"content-type" and value.lstrip(b" \t").lower().startswith(_NESTED_TYPES))):
            return _stdlib_parse_headers(_Replay(lines), _class)
        message.set_raw(name.decode("iso-8859-1"), value.lstrip(b" \t").decode("iso-8859-1"))
    message.set_payload("")  # as the email parser leaves it: the (empty) rest of the header block
    return message


class _Replay:
    """The header lines already read, read again by the stdlib's parse_headers."""

    def __init__(self, lines: list):
        self._lines = iter(lines)

    def readline(self, limit: int = -1) -> bytes:
        return next(self._lines, b"")


def install():
    """Make http.client (and so urllib3 and requests) parse response headers with ``parse_headers``."""
    http.client.parse_headers = parse_headers
