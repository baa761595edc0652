"""This module writes and reads inline files (images, documents) as the dialects carry them.

The OpenAI dialects send inline bytes as ``data:`` URLs and name a file by
its file name; Anthropic and Gemini carry the media type and the base64 text
apart. The IR keeps them apart too (``data`` and ``media_type``), and these
helpers are the one place that joins, splits or names them.
"""

from __future__ import annotations

# File name endings the OpenAI APIs read a file's type from, for the types clients send as documents.
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
    "text/html": ".html",
    "application/json": ".json",
}


def standard_base64(data: str) -> str:
    """Base64 text in the standard alphabet, padded: what Anthropic and OpenAI read. Google's SDKs write
    bytes fields in the URL-safe alphabet (``-`` and ``_``), which those refuse; the bytes are the same."""
    if "-" in data or "_" in data:
        data = data.replace("-", "+").replace("_", "/")
    return data + "=" * (-len(data) % 4) if "=" not in data else data


def data_url(media_type: str, data: str) -> str:
    """Base64 ``data`` of ``media_type`` as a data: URL."""
    return f"data:{media_type};base64,{data}"


def parse_data_url(url: str) -> tuple | None:
    """(media type, base64 data) of a base64 data: URL with a media type; None for anything else."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not comma or encoding != "base64" or not media_type:
        return None
    return media_type, data


def media_type_of(filename: str | None, default: str = "application/pdf") -> str:
    """The media type a file name's ending names (``notes.txt`` is text/plain); ``default`` for any other."""
    ending = "." + filename.rpartition(".")[2].lower() if filename and "." in filename else None
    return next((media_type for media_type, known in _EXTENSIONS.items() if known == ending), default)


def document_filename(document) -> str:
    """A file name for an ir.Document: its title, ending as its media type does (``report.pdf``)."""
    extension = _EXTENSIONS.get(document.media_type, "")
    name = (document.title or "").strip() or "document"
    return name if name.lower().endswith(extension) else name + extension
