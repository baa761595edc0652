"""How thinking travels inside Chat Completions messages, which have no field of their own for it.

Thinking text goes in ``reasoning_content`` (the DeepSeek convention most
clients read). Everything needed to send thinking back to its upstream goes
in ``reasoning_details``, OpenRouter's convention: one entry per thinking
part, ``reasoning.text`` (text + signature), ``reasoning.summary`` (a
Responses summary) or ``reasoning.encrypted`` (Responses encrypted content,
Anthropic redacted thinking), each tagged with the ``format`` it came from.
A Gemini thought signature on a function call rides on the tool call as
``extra_content.google.thought_signature``, Google's own convention.
Clients that append the assistant message they received to the next
request send all of this back unchanged, which is what keeps a multi-turn
tool loop with thinking working.
"""

from __future__ import annotations

from ... import ir
from .. import shape

FORMATS = {ir.Dialect.ANTHROPIC: "anthropic-claude-v1", ir.Dialect.RESPONSES: "openai-responses-v1",
           ir.Dialect.GEMINI: "google-gemini-v1"}  # OpenRouter's names for each source
SOURCES = {value: key for key, value in FORMATS.items()}


def head(part: ir.Thinking) -> dict:
    """The fields that identify a thinking entry: its type, format and id."""
    if part.redacted is not None:
        entry = {"type": "reasoning.encrypted"}
    elif part.source == ir.Dialect.RESPONSES:
        entry = {"type": "reasoning.summary"}
    else:
        entry = {"type": "reasoning.text"}
    if part.source in FORMATS:
        entry["format"] = FORMATS[part.source]
    if part.id:
        entry["id"] = part.id
    return entry


def text_key(part: ir.Thinking) -> str:
    return "summary" if part.source == ir.Dialect.RESPONSES else "text"


def encrypted_entry(part: ir.Thinking, data: str) -> dict:
    """Responses encrypted content: an entry of its own after the item's summaries."""
    entry = {"type": "reasoning.encrypted", "data": data, "format": FORMATS[ir.Dialect.RESPONSES]}
    if part.id:
        entry["id"] = part.id
    return entry


def details(parts) -> list:
    """The reasoning_details of a complete message, numbered as the stream encoder numbers them."""
    entries = []
    for part in parts:
        if not isinstance(part, ir.Thinking):
            continue
        entry = head(part)
        if part.redacted is not None:
            entry["data"] = part.redacted
            entries.append(entry)
        elif part.text or part.signature:  # an item with only encrypted content has no summary entry
            entry[text_key(part)] = part.text
            if part.signature:
                entry["signature"] = part.signature
            entries.append(entry)
        if part.encrypted:
            entries.append(encrypted_entry(part, part.encrypted))
    for index, entry in enumerate(entries):
        entry["index"] = index
    return entries


def upstream_details(message: dict, where: str) -> list:
    """An upstream message's reasoning_details, each entry checked for the types thinking_parts reads.

    A client's entries are checked by the request schema; an upstream's are checked here.
    """
    entries = shape.objects(message, "reasoning_details", where)
    for path, entry in entries:
        for key in ("type", "format", "id", "text", "summary", "signature", "data"):
            shape.string(entry, key, path)
        shape.integer(entry, "index", path, default=None)
    return [entry for _, entry in entries]


def thinking_parts(entries, reasoning_text: str | None) -> list:
    """Thinking parts from a client's reasoning_details (or bare reasoning_content)."""
    if not entries:
        return [ir.Thinking(text=reasoning_text)] if reasoning_text else []
    parts = []
    for entry in sorted(entries, key=lambda e: e.get("index", 0)) if _indexed(entries) else entries:
        if not isinstance(entry, dict):
            continue
        source = SOURCES.get(entry.get("format"))
        kind = entry.get("type")
        if kind == "reasoning.encrypted":
            data = entry.get("data") or ""
            previous = parts[-1] if parts else None
            if source == ir.Dialect.ANTHROPIC:
                parts.append(ir.Thinking(redacted=data, source=source))
            elif previous is not None and previous.source == source and previous.id == entry.get("id") \
                    and previous.encrypted is None and previous.redacted is None:
                previous.encrypted = data  # belongs to the summary entry just before it
            else:
                parts.append(ir.Thinking(encrypted=data, source=source, id=entry.get("id")))
        elif kind in ("reasoning.text", "reasoning.summary"):
            text = entry.get("text") if kind == "reasoning.text" else entry.get("summary")
            parts.append(ir.Thinking(text=text or "", signature=entry.get("signature") or None,
                                     source=source, id=entry.get("id")))
    return parts


def _indexed(entries) -> bool:
    return all(isinstance(e, dict) and isinstance(e.get("index"), int) for e in entries)
