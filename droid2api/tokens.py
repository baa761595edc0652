"""This module estimates the prompt tokens a model would count for an ir.Request, without a tokenizer.

It answers count_tokens for upstreams that cannot count. Text is measured by
cheap features (words, splits inside identifiers and ids, digits, punctuation
runs, newlines, multi-byte characters), each a C-speed pass over the bytes, so
the 117 KB Claude Code request takes 2-3 ms. The feature weights were fitted
against OpenAI's o200k and Anthropic's published Claude tokenizer on prose,
code, JSON Schema, CJK, Cyrillic, ids and hex; the constants of each upstream
family were fitted on the real counts in tests/recorded/ (tests/test_tokens.py
checks every one within 15%). It is an estimate: expect a few percent on
large requests, and more on tiny ones, where providers' hidden templates weigh.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass, replace

from . import ir

# -- text ---------------------------------------------------------------------

_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# "_" joins words without a token of its own (both tokenizers have "_user"-like tokens).
_PUNCT = frozenset(c for c in range(33, 127) if c not in _ALNUM and c != ord("_"))


def _class_of(byte: int) -> int:
    if 48 <= byte <= 57:
        return ord("0")
    if 65 <= byte <= 90:
        return ord("A")
    if 97 <= byte <= 122:
        return ord("a")
    return ord(" ")


# bytes.translate tables: every byte to its class (lower "a", capital "A", digit "0", else a space), and
# punctuation kept with everything else a space. UTF-8 lead bytes tell a character's width: 2 bytes
# (Latin accents, Cyrillic, Greek, Arabic, Hebrew), 3 (CJK, Hangul, Indic...), 4 (emoji, rare CJK).
_CLASSES = bytes(_class_of(c) for c in range(256))
# Inside a word, a change from lower case to a capital or between letters and digits is where a
# tokenizer splits an identifier or an id: "getUserCountry" is 3 tokens, "sha256" 2, "information" 1,
# a random id like "01X9wcHKKAZD9tBC" about one per 1.5 characters; "Hello" and "IMPORTANT" do not split.
# Letter-to-digit changes are counted on the classes with both letter classes made one ("L").
_LETTER_OR_DIGIT = bytes(c if c in b"0 " else ord("L") for c in range(256))
_PUNCT_ONLY = bytes(c if c in _PUNCT else 32 for c in range(256))
_NOT_PUNCT = bytes(c for c in range(256) if c not in _PUNCT)  # bytes.translate's delete: keeps punctuation
_NOT_LEAD2 = bytes(c for c in range(256) if not 0xC0 <= c < 0xE0)
_NOT_LEAD3 = bytes(c for c in range(256) if not 0xE0 <= c < 0xF0)
_NOT_LEAD4 = bytes(c for c in range(256) if c < 0xF0)

# Tokens per feature, fitted by least squares on both tokenizers and rounded: about one token a word and
# one a run of punctuation (JSON's '":"' and '"},{"' are single tokens), one per split, a little per
# digit (numbers go in groups of up to three), per punctuation character and per newline.
_WORD, _SPLIT, _DIGIT, _PUNCT_RUN, _PUNCT_CHAR, _NEWLINE = 1.1, 1.1, 0.2, 0.88, 0.07, 0.67


@dataclass(frozen=True)
class Family:
    """What one upstream family adds around the text it is given, and how its tokenizer treats it.

    The constants were fitted on the real counts in tests/recorded/. ``wide2``/``wide3``/``wide4`` are
    tokens per 2-, 3- and 4-byte UTF-8 character (Claude's tokenizer spends about twice o200k's on
    non-Latin scripts). ``schema_scale`` is what a JSON Schema costs against its JSON text: Claude reads
    the JSON, OpenAI and Gemini a rendering with little punctuation.
    """

    name: str
    dialect: str  # the ir.Dialect it is sent in: whose image rule applies, whose reasoning it takes back
    wide2: float
    wide3: float
    wide4: float
    per_request: int  # the frame of the turn the model is asked to write
    per_message: int
    per_call: int
    per_result: int
    tools_preamble: int  # the tool-use instructions the provider adds when there are tools
    per_tool: int
    schema_scale: float
    thinking_on: int  # the instructions extended thinking adds, when the request asks for reasoning
    counts_ids: bool  # whether tool call ids are shown to the model
    page: int  # tokens per PDF page
    model_preambles: tuple = ()  # (model name prefix, tokens): more hidden tool instructions some models get
    reads_thinking: bool = True  # whether reasoning in the history reaches the model at all


# Anthropic documents a tool-use system prompt of 313-346 tokens for Claude 4 models; 320 fits what the
# recordings show for Sonnet 4, Sonnet 4.5 and Haiku 4.5. Thinking adds ~28 even without tools.
ANTHROPIC = Family("anthropic", ir.Dialect.ANTHROPIC, wide2=0.59, wide3=1.2, wide4=2.0, per_request=4, per_message=3,
                   per_call=10, per_result=8, tools_preamble=320, per_tool=10, schema_scale=1.0,
                   thinking_on=28, counts_ids=True, page=3000)
# OpenAI's cookbook: 3 tokens a message plus 3 to prime the reply; a function costs ~7 + 12 around its
# name, description and parameters, which the model sees as a TypeScript-like signature.
OPENAI_CHAT = Family("openai_chat", ir.Dialect.CHAT, wide2=0.3, wide3=0.81, wide4=1.5, per_request=3,
                     per_message=3, per_call=5, per_result=3, tools_preamble=3, per_tool=12, schema_scale=0.5,
                     thinking_on=0, counts_ids=False, page=1500, reads_thinking=False)
# GPT-4o on the Responses API counted ~208 tokens more than its request holds when it had tools (both
# recordings; GPT-5 there, and GPT-4o-mini on Chat, did not), so that model gets them on that API only.
OPENAI_RESPONSES = replace(OPENAI_CHAT, name="openai_responses", dialect=ir.Dialect.RESPONSES,
                           model_preambles=(("gpt-4o", 208),), reads_thinking=True)
# Gemini 2.5 and later (thinking models) frame a request with ~15 tokens; Gemini 2.0 and 1.5 count
# little more than the words themselves, tool declarations included.
GEMINI = Family("gemini", ir.Dialect.GEMINI, wide2=0.3, wide3=0.81, wide4=1.5, per_request=10, per_message=2,
                per_call=2, per_result=2, tools_preamble=0, per_tool=3, schema_scale=0.2, thinking_on=0,
                counts_ids=False, page=258)
GEMINI_CLASSIC = replace(GEMINI, name="gemini_classic", per_request=0, per_message=0, per_call=0,
                         per_result=0, per_tool=0)
FAMILIES = {family.dialect: family for family in (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI)}
_CLASSIC_GEMINI = re.compile(r"gemini-(1\.|2\.0)")

# Opaque reasoning sent back in the current turn (a Gemini thought signature, Anthropic redacted thinking,
# a Responses encrypted_content) is turned back into the hidden thoughts it stands for, and those count:
# Gemini 3 counted a 1,408-character signature as the 202 thought tokens of the turn that made it. The
# same rate for the other two is a guess: no recording has them.
_OPAQUE_CHARS_PER_TOKEN = 7


def text_features(text: str) -> tuple:
    """(words, splits inside words, digits, punctuation runs, punctuation characters, newlines, 2-, 3- and
    4-byte characters) of ``text``: C-speed passes over its bytes, no Python loop per character."""
    raw = text.encode("utf-8", "surrogatepass")
    classes = raw.translate(_CLASSES)
    letters_digits = classes.translate(_LETTER_OR_DIGIT)
    splits = classes.count(b"aA") + letters_digits.count(b"L0") + letters_digits.count(b"0L")
    return (len(classes.split()), splits, classes.count(b"0"),
            len(raw.translate(_PUNCT_ONLY).split()), len(raw.translate(None, _NOT_PUNCT)), raw.count(b"\n"),
            len(raw.translate(None, _NOT_LEAD2)), len(raw.translate(None, _NOT_LEAD3)),
            len(raw.translate(None, _NOT_LEAD4)))


def text_tokens(text: str, family: Family = ANTHROPIC) -> float:
    """Estimated tokens of ``text`` alone, as ``family``'s tokenizer would split it."""
    if not text:
        return 0.0
    words, splits, digits, punct_runs, punct, newlines, wide2, wide3, wide4 = text_features(text)
    ascii_part = (_WORD * words + _SPLIT * splits + _DIGIT * digits + _PUNCT_RUN * punct_runs
                  + _PUNCT_CHAR * punct + _NEWLINE * newlines)
    return ascii_part + family.wide2 * wide2 + family.wide3 * wide3 + family.wide4 * wide4


# -- images and documents -----------------------------------------------------

# An image whose size cannot be read (a URL, WebP, a broken header) is taken to be Anthropic's example of
# a full-size image, 1092x1092: ~1,590 tokens on Claude, 765 on GPT-4o, 1,032 on Gemini.
DEFAULT_IMAGE_SIDE = 1092
_HEADER_B64_CHARS = 87_384  # decode at most this much base64 (64 KiB) to find an image's size


def image_size(image: ir.Image) -> tuple | None:
    """(width, height) read from the PNG, GIF or JPEG header of an inline image, or None."""
    data = image.data
    if data is None and image.url and image.url.startswith("data:"):
        data = image.url.partition(",")[2]
    if not data:
        return None
    head = data[:_HEADER_B64_CHARS]
    try:
        raw = base64.b64decode(head[:len(head) - len(head) % 4])
    except (binascii.Error, ValueError):
        return None
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return struct.unpack(">II", raw[16:24])
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        return struct.unpack("<HH", raw[6:10])
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    return None


def _jpeg_size(raw: bytes) -> tuple | None:
    """Walk the JPEG segments to the first start-of-frame marker, which holds the size."""
    at = 2
    while at + 9 < len(raw):
        if raw[at] != 0xFF:
            return None
        marker = raw[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", raw[at + 5:at + 9])
            return width, height
        at += 2 + struct.unpack(">H", raw[at + 2:at + 4])[0]
    return None


def image_tokens(image: ir.Image, family: Family) -> int:
    """What ``family`` charges for one image, by the rule its provider documents."""
    width, height = image_size(image) or (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE)
    width, height = max(width, 1), max(height, 1)
    if family.dialect == ir.Dialect.ANTHROPIC:
        # Fitted into 1568 pixels on the long edge, then (width * height) / 750, at most ~1,600.
        shrink = min(1.0, 1568 / max(width, height))
        return max(1, min(1600, round(width * height * shrink * shrink / 750)))
    if family.dialect == ir.Dialect.GEMINI:
        # 258 for an image within 384x384, else 258 per 768x768 tile.
        if width <= 384 and height <= 384:
            return 258
        return 258 * _ceil_div(width, 768) * _ceil_div(height, 768)
    if image.detail == "low":
        return 85
    # OpenAI: fitted into 2048x2048, the short side then brought down to 768, 85 plus 170 per 512x512 tile.
    shrink = min(1.0, 2048 / max(width, height))
    shrink *= min(1.0, 768 / (min(width, height) * shrink))
    return 85 + 170 * _ceil_div(int(width * shrink), 512) * _ceil_div(int(height * shrink), 512)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


_SCAN_B64_CHARS = 4 * 1024 * 1024  # read at most 3 MiB of a document; extrapolate the rest by size
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_PDF_BYTES_PER_PAGE = 50_000  # when no page object is visible (they hide in compressed object streams)


def pdf_pages(data: str) -> int:
    """Pages of a base64 PDF: its page objects counted in (at most) the first 3 MiB, else by size."""
    head = data[:_SCAN_B64_CHARS]
    try:
        raw = base64.b64decode(head[:len(head) - len(head) % 4])
    except (binascii.Error, ValueError):
        raw = b""
    pages = len(_PDF_PAGE.findall(raw))
    if pages:
        return max(1, round(pages * len(data) / len(head)))
    return max(1, round(len(data) * 3 / 4 / _PDF_BYTES_PER_PAGE))


def document_tokens(document: ir.Document, family: Family) -> int:
    """A PDF by its pages; any other document (plain text, base64 or not) by its words."""
    title = text_tokens(document.title or "", family)
    if not document.data:
        return round(title + family.page)  # a URL: one page, for want of a better guess
    if (document.media_type or "application/pdf").endswith("pdf"):
        return round(title + pdf_pages(document.data) * family.page)
    head = document.data[:_SCAN_B64_CHARS]
    try:
        text = base64.b64decode(head, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = head
    return round(title + family.per_result + text_tokens(text, family) * len(document.data) / len(head))


# -- the request ----------------------------------------------------------------


def family_for(model: str | None, upstream: str | None = None) -> Family:
    """The family of the upstream dialect (an ir.Dialect) when known, else guessed from the model name."""
    name = (model or "").lower()
    if upstream not in FAMILIES:
        upstream = (ir.Dialect.ANTHROPIC if "claude" in name
                    else ir.Dialect.GEMINI if "gemini" in name or "gemma" in name else ir.Dialect.CHAT)
    if upstream == ir.Dialect.GEMINI and _CLASSIC_GEMINI.search(name):
        return GEMINI_CLASSIC
    return FAMILIES[upstream]


def estimate_input_tokens(request: ir.Request, upstream: str | None = None) -> int:
    """An estimate of the prompt tokens ``request`` costs, counted as the upstream would.

    ``upstream`` is the ir.Dialect the request will be sent in; without it the family is guessed from
    ``request.model``. Linear in the size of the request (text is measured once, joined); deterministic.
    """
    family = family_for(request.model, upstream)
    texts = [instruction.text for instruction in request.system]
    fixed = family.per_request
    turn_start = _current_turn(request.messages)
    for index, message in enumerate(request.messages):
        fixed += family.per_message
        if message.name:
            texts.append(message.name)
        for part in message.parts:
            fixed += _part_tokens(part, family, texts, index >= turn_start)
    schemas = []
    if request.tools:
        fixed += family.tools_preamble + family.per_tool * len(request.tools)
        fixed += sum(tokens for prefix, tokens in family.model_preambles if (request.model or "").startswith(prefix))
        for tool in request.tools:
            texts += (tool.name, tool.description or "")
            schemas += (_json_text(tool.parameters), _json_text(tool.options))
    if request.response_format and request.response_format.schema:
        schemas.append(_json_text(request.response_format.schema))
    if _thinks(request.reasoning):
        fixed += family.thinking_on
    measured = text_tokens(" ".join(texts), family) + family.schema_scale * text_tokens(" ".join(schemas), family)
    return round(fixed + measured)


def _part_tokens(part, family: Family, texts: list, current_turn: bool) -> int:
    """Fixed tokens of one message part; its text goes to ``texts``, to be measured all at once."""
    if isinstance(part, (ir.Text, ir.Refusal)):
        texts.append(part.text)
        return 0
    if isinstance(part, ir.ToolCall):
        texts += (part.name, part.arguments, part.id if family.counts_ids else "")
        if part.signature and current_turn and family.dialect == ir.Dialect.GEMINI:
            return family.per_call + len(part.signature) // _OPAQUE_CHARS_PER_TOKEN
        return family.per_call
    if isinstance(part, ir.ToolResult):
        texts += (part.name or "", part.call_id if family.counts_ids else "")
        return family.per_result + sum(_part_tokens(inner, family, texts, current_turn) for inner in part.content)
    if isinstance(part, ir.Image):
        return image_tokens(part, family)
    if isinstance(part, ir.Document):
        return document_tokens(part, family)
    if isinstance(part, ir.Thinking):
        return _thinking_tokens(part, family, texts, current_turn)
    return 0


def _thinking_tokens(part: ir.Thinking, family: Family, texts: list, current_turn: bool) -> int:
    """Reasoning is counted only in the current turn (most models drop earlier turns' thoughts; Claude Opus
    4.5 and later keep them, so the estimate is low there) and only when the upstream made it (encoders
    drop the rest). Gemini takes back the signature, never the text; Chat takes back nothing."""
    if not current_turn or not family.reads_thinking or part.source not in (None, family.dialect):
        return 0
    gemini = family.dialect == ir.Dialect.GEMINI
    if not gemini:
        texts.append(part.text)
    blob = part.redacted or part.encrypted or (part.signature if gemini else None)
    return len(blob) // _OPAQUE_CHARS_PER_TOKEN if blob else 0


def _current_turn(messages: list) -> int:
    """Index of the last user message that says something (not only tool results): the turn under way."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user" and any(not isinstance(p, ir.ToolResult) for p in message.parts):
            return index
    return 0


def _thinks(reasoning: ir.Reasoning | None) -> bool:
    if reasoning is None:
        return False
    return bool(reasoning.budget_tokens) or reasoning.effort not in (None, "none")


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""
