"""This module checks the JSON types of an upstream's answer as the decoders read it.

An upstream that answers 200 with ``"content": "hello"`` where a list of
blocks belongs, or ``"text": 5``, has broken its side of the contract: the
client should get a 502 that names the field, not an empty answer or a 500.
Every decoder (all four dialects, streamed and not) reads the fields it relies
on through these few getters, which return the value when its JSON type is
right, a default when an optional field is absent or null, and otherwise raise
ShapeError with the field's path (``content[0].text must be a string, not number``).

The non-streamed path turns a ShapeError into a 502 naming the upstream; a
stream decoder turns it into an ir.StreamError, so the client gets its
dialect's error event. Block and item types a decoder does not know are still
skipped, not refused: only the shape of what is read is checked. Each getter
is an isinstance check or two, cheap enough for every stream event.
"""

from __future__ import annotations

from ..validation import json_type, shown
from ..wire import dumps

# A token count or timestamp beyond this is no count at all, and sums of such numbers could
# outgrow what the JSON encoder will write back out.
_MAX_INTEGER = 2 ** 63


class ShapeError(ValueError):
    """A field of an upstream answer that is missing or of the wrong JSON type; the message names it."""


def path_of(where: str, key) -> str:
    """The path of ``key`` inside the object at ``where``: ``content[0].text``, or ``id`` at the top."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _wrong(path: str, expected: str, value) -> ShapeError:
    found = shown(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else json_type(value)
    return ShapeError(f"{path} must be {expected}, not {found}")


def _absent(key: str, where: str, required: bool, default):
    if required:
        raise ShapeError(f"{path_of(where, key)} is required")
    return default


def as_object(value, path: str) -> dict:
    """``value`` itself, which must be an object (a list item, a whole answer)."""
    if not isinstance(value, dict):
        raise _wrong(path or "the answer", "an object", value)
    return value


def obj(parent: dict, key: str, where: str = "", *, required: bool = False) -> dict:
    """The object at ``key``; ``{}`` when it is absent or null and not required."""
    value = parent.get(key)
    if value is None:
        return _absent(key, where, required, {})
    if not isinstance(value, dict):
        raise _wrong(path_of(where, key), "an object", value)
    return value


def array(parent: dict, key: str, where: str = "", *, required: bool = False, of: str = "a list") -> list:
    """The list at ``key``; ``[]`` when it is absent or null and not required.

    ``of`` words the expectation for the message (``a list of blocks``).
    """
    value = parent.get(key)
    if value is None:
        return _absent(key, where, required, [])
    if not isinstance(value, list):
        raise _wrong(path_of(where, key), of, value)
    return value


def objects(parent: dict, key: str, where: str = "", *, required: bool = False, of: str = "a list") -> list:
    """The list at ``key`` as (path, object) pairs; an item that is not an object is a ShapeError."""
    path = path_of(where, key)
    pairs = []
    for i, item in enumerate(array(parent, key, where, required=required, of=of)):
        item_path = f"{path}[{i}]"
        pairs.append((item_path, as_object(item, item_path)))
    return pairs


def string(parent: dict, key: str, where: str = "", *, required: bool = False, default=""):
    """The string at ``key``; ``default`` when it is absent or null and not required."""
    value = parent.get(key)
    if value is None:
        return _absent(key, where, required, default)
    if not isinstance(value, str):
        raise _wrong(path_of(where, key), "a string", value)
    return value


def integer(parent: dict, key: str, where: str = "", *, required: bool = False, default=0):
    """A count or timestamp: a non-negative integer; ``default`` when it is absent or null."""
    value = parent.get(key)
    if value is None:
        return _absent(key, where, required, default)
    # bool is an int to Python, but true is no token count.
    if type(value) is not int or not 0 <= value < _MAX_INTEGER:
        raise _wrong(path_of(where, key), "a non-negative integer", value)
    return value


def flag(parent: dict, key: str, where: str = "") -> bool:
    """A boolean field; false when it is absent or null."""
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong(path_of(where, key), "true or false", value)
    return value


def object_text(parent: dict, key: str, where: str = "") -> str:
    """The object at ``key`` (tool input, function args) as the JSON text the IR keeps; ``{}`` when absent."""
    value = obj(parent, key, where)
    try:
        return dumps(value)
    except RecursionError:  # parsed, but nested deeper than the encoder can walk from here
        raise ShapeError(f"{path_of(where, key)} cannot be written back as JSON") from None


def event_failure(kind, error: ShapeError) -> str:
    """The StreamError message for a stream event that failed its shape check."""
    name = f"a {kind[:80]} event" if isinstance(kind, str) and kind else "an event"
    return f"the upstream sent {name} of an unexpected shape: {error}"
