"""Tests of droid2api.tokens, the prompt-token estimate for upstreams that cannot count.

The real counts come from tests/recorded/ (each response's usage, read by the dialect's own decoder);
the requests are turned into ir.Requests by the Chat front's decoder or, for the other three dialects,
which have no front decoder yet, by the small converters below.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from droid2api import ir, tokens
from droid2api.dialects import BY_NAME, openai_chat
from droid2api.sse import iter_events
from tests.helpers import RECORDED, recorded, recorded_json

PROVIDERS = {"anthropic": ir.Dialect.ANTHROPIC, "openai": ir.Dialect.CHAT,
             "openai_responses": ir.Dialect.RESPONSES, "google": ir.Dialect.GEMINI}
CLIENTS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "clients"


# -- recorded wire bodies as ir.Requests (test side only) ------------------------------------------


def _anthropic_part(block: dict):
    kind, source = block["type"], block.get("source") or {}
    if kind == "text":
        return ir.Text(block["text"])
    if kind == "image":
        return ir.Image(data=source.get("data"), media_type=source.get("media_type"), url=source.get("url"))
    if kind == "tool_use":
        return ir.ToolCall(block["id"], block["name"], json.dumps(block["input"]))
    if kind == "tool_result":
        content = block.get("content", "")
        parts = [ir.Text(content)] if isinstance(content, str) else [_anthropic_part(b) for b in content]
        return ir.ToolResult(block["tool_use_id"], parts, is_error=bool(block.get("is_error")))
    if kind == "thinking":
        return ir.Thinking(block["thinking"], signature=block["signature"], source=ir.Dialect.ANTHROPIC)
    raise AssertionError(f"no test conversion for {kind}")


def from_anthropic(body: dict) -> ir.Request:
    system = body.get("system") or []
    system = [{"text": system}] if isinstance(system, str) else system
    request = ir.Request(body["model"], system=[ir.Instruction(block["text"]) for block in system])
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        request.messages.append(ir.Message(message["role"], [_anthropic_part(b) for b in blocks]))
    request.tools = [ir.Tool(t["name"], t.get("description"), t["input_schema"]) for t in body.get("tools", [])]
    choice = (body.get("tool_choice") or {}).get("type")
    if choice:
        request.tool_choice = ir.ToolChoice({"any": "required"}.get(choice, choice))
    if (body.get("thinking") or {}).get("type") == "enabled":
        request.reasoning = ir.Reasoning(budget_tokens=body["thinking"]["budget_tokens"])
    return request


def _responses_tools(tools: list) -> list:
    out = []
    for tool in tools:
        if tool["type"] == "function":
            out.append(ir.Tool(tool["name"], tool.get("description"), tool.get("parameters") or {}))
        elif tool["type"] == "namespace":  # Codex groups functions under a namespace
            out += _responses_tools(tool["tools"])
        else:
            out.append(ir.Tool(tool["type"], kind="web_search"))
    return out


def from_responses(body: dict) -> ir.Request:
    request = ir.Request(body["model"], tools=_responses_tools(body.get("tools", [])))
    if body.get("instructions"):
        request.system.append(ir.Instruction(body["instructions"]))
    for item in body["input"]:
        kind = item.get("type", "message")
        if kind == "message":
            content = item["content"]
            texts = [content] if isinstance(content, str) else [c["text"] for c in content]
            if item["role"] in ("system", "developer"):
                request.system.append(ir.Instruction("".join(texts), role=item["role"]))
                continue
            role, parts = item["role"], [ir.Text(text) for text in texts]
        elif kind == "function_call":
            role, parts = "assistant", [ir.ToolCall(item["call_id"], item["name"], item["arguments"])]
        else:
            assert kind == "function_call_output"
            role, parts = "user", [ir.ToolResult(item["call_id"], [ir.Text(item["output"])])]
        if request.messages and request.messages[-1].role == role:
            request.messages[-1].parts += parts
        else:
            request.messages.append(ir.Message(role, parts))
    if isinstance(body.get("tool_choice"), str):
        request.tool_choice = ir.ToolChoice(body["tool_choice"])
    return request


def from_gemini(body: dict, model: str) -> ir.Request:
    request = ir.Request(model, system=[ir.Instruction(p["text"])
                                        for p in (body.get("systemInstruction") or {}).get("parts", [])])
    for content in body["contents"]:
        parts = []
        for part in content["parts"]:
            if "text" in part:
                parts.append(ir.Text(part["text"]))
            elif "functionCall" in part:
                call = part["functionCall"]
                parts.append(ir.ToolCall(call.get("id", ""), call["name"], json.dumps(call["args"]),
                                         signature=part.get("thoughtSignature")))
            else:
                answer = part["functionResponse"]
                parts.append(ir.ToolResult(answer.get("id", ""), [ir.Text(json.dumps(answer["response"]))],
                                           name=answer["name"]))
        request.messages.append(ir.Message("assistant" if content["role"] == "model" else "user", parts))
    for group in body.get("tools", []):
        for f in group["functionDeclarations"]:
            schema = f.get("parameters") or f.get("parameters_json_schema") or f.get("parametersJsonSchema")
            request.tools.append(ir.Tool(f["name"], f.get("description"), schema or {}))
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode:
        request.tool_choice = ir.ToolChoice({"ANY": "required"}.get(mode, mode.lower()))
    return request


def recorded_request(name: str) -> tuple:
    """(ir.Request, upstream dialect) of one recorded exchange."""
    provider = name.split("__")[0]
    body = recorded_json(f"{name}.request.json")
    if provider == "anthropic":
        request = from_anthropic(body)
    elif provider == "openai":
        request = openai_chat.decode_request(body)
    elif provider == "openai_responses":
        request = from_responses(body)
    else:
        model = recorded_json(f"{name}.meta.json")["uri"].split("/models/")[1].split(":")[0]
        request = from_gemini(body, model)
    return request, PROVIDERS[provider]


def real_input_tokens(name: str) -> int:
    """Every prompt token the upstream counted, cached ones included (ir.Usage's convention)."""
    dialect = BY_NAME[PROVIDERS[name.split("__")[0]]]
    if (RECORDED / f"{name}.response.json").exists():
        return dialect.decode_response(recorded_json(f"{name}.response.json")).usage.input_tokens
    decoder = dialect.StreamDecoder()
    events = [e for event, data in iter_events([recorded(f"{name}.response.sse")]) for e in decoder.feed(event, data)]
    finishes = [e for e in events + decoder.close() if isinstance(e, ir.Finish)]
    return finishes[-1].usage.input_tokens


RECORDINGS = sorted(path.name[:-len(".request.json")] for path in RECORDED.glob("*.request.json"))


# -- accuracy against real counts ------------------------------------------------------------------


def test_every_recording_has_a_real_count():
    assert len(RECORDINGS) == 22
    assert all(real_input_tokens(name) > 0 for name in RECORDINGS)


@pytest.mark.parametrize("name", RECORDINGS)
def test_estimate_is_within_15_percent_of_the_real_count(name):
    request, upstream = recorded_request(name)
    real = real_input_tokens(name)
    estimate = tokens.estimate_input_tokens(request, upstream)
    assert abs(estimate - real) / real <= 0.15, (estimate, real)


def test_the_model_name_alone_picks_the_family_of_the_recorded_upstreams():
    for name in RECORDINGS:
        request, upstream = recorded_request(name)
        guessed = tokens.family_for(request.model)
        assert guessed.dialect == upstream or upstream == ir.Dialect.RESPONSES  # Chat is the default guess


def _client_request(file: str, index: int = 0) -> ir.Request:
    if not (CLIENTS / file).exists():
        pytest.skip("shared/fixtures/clients is not beside this checkout")
    body = json.loads((CLIENTS / file).read_text())[index]["body"]
    if file == "claude-code.json":
        return from_anthropic(body)
    return from_responses(body) if file == "codex.json" else from_gemini(body, "gemini-3.1-pro-preview")


def _all_text(request: ir.Request) -> list:
    texts = [i.text for i in request.system]
    for message in request.messages:
        for part in message.parts:
            texts += [part.text] if isinstance(part, (ir.Text, ir.Thinking)) else []
            texts += [part.name, part.arguments] if isinstance(part, ir.ToolCall) else []
            texts += [c.text for c in part.content] if isinstance(part, ir.ToolResult) else []
    for tool in request.tools:
        texts += [tool.name, tool.description or "", json.dumps(tool.parameters)]
    return texts


# Tokens in the text pieces of the first request of each client fixture, counted piece by piece offline
# with Anthropic's published Claude tokenizer (claude-code) and OpenAI's o200k_base (codex, gemini-cli).
CLIENT_TEXT_TOKENS = {"claude-code.json": (tokens.ANTHROPIC, 26_772), "codex.json": (tokens.OPENAI_CHAT, 8_062),
                      "gemini-cli.json": (tokens.GEMINI, 9_416)}


@pytest.mark.parametrize("file", sorted(CLIENT_TEXT_TOKENS))
def test_text_of_big_client_requests_is_within_10_percent_of_a_real_tokenizer(file):
    family, reference = CLIENT_TEXT_TOKENS[file]
    estimate = sum(tokens.text_tokens(text, family) for text in _all_text(_client_request(file)))
    assert abs(estimate - reference) / reference <= 0.10, estimate


# -- monotonic, linear, deterministic --------------------------------------------------------------


def _chat(*texts: str, model: str = "claude-sonnet-4-5") -> ir.Request:
    return ir.Request(model, messages=[ir.Message("user", [ir.Text(text)]) for text in texts])


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4o-mini", "gemini-2.5-pro", "gemini-2.0-flash"])
def test_more_text_costs_more(model):
    base = "The quick brown fox jumps over the lazy dog. "
    counts = [tokens.estimate_input_tokens(_chat(base * n, model=model)) for n in (1, 2, 10, 100)]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert tokens.estimate_input_tokens(_chat(base, base, model=model)) > counts[0]
    for text in ("日本語の文章です。" * 5, "Привет, как дела? " * 5, "def f(x):\n    return x\n" * 5, "🎉" * 5):
        assert tokens.estimate_input_tokens(_chat(base + text, model=model)) > counts[0]


def test_more_tools_and_system_text_cost_more():
    request = _chat("hi")
    without = tokens.estimate_input_tokens(request)
    request.tools.append(ir.Tool("get_weather", "Weather in a city.", {"type": "object", "properties": {
        "city": {"type": "string"}}}))
    one_tool = tokens.estimate_input_tokens(request)
    request.tools.append(ir.Tool("get_time", "The time in a city.", {"type": "object"}))
    request.system.append(ir.Instruction("You are terse."))
    assert without < one_tool < tokens.estimate_input_tokens(request)
    assert one_tool - without > 300  # Claude's tool-use preamble


def test_estimate_is_deterministic_and_linear_in_the_request():
    base = _client_request("claude-code.json", 1)
    history = base.messages

    def with_history(times: int) -> int:
        return tokens.estimate_input_tokens(ir.Request(base.model, history * times, base.system, base.tools))

    first, second, third = with_history(1), with_history(2), with_history(3)
    assert first == with_history(1)
    assert abs((third - second) - (second - first)) <= 1  # each copy of the history costs the same
    # Text is measured on the joined pieces, and each feature adds up across a space join:
    pieces = _all_text(base)
    joined = tokens.text_tokens(" ".join(pieces))
    assert joined == pytest.approx(sum(tokens.text_tokens(p) for p in pieces), rel=0.001)


@pytest.mark.parametrize("text, at_least, at_most", [
    ("getUserCountry", 3, 4), ("information", 1, 2), ("IMPORTANT", 1, 2),
    ("toolu_01X9wcHKKAZD9tBC711xipPa", 10, 24), ('{"type":"object","properties":{}}', 7, 12), ("", 0, 0)])
def test_identifiers_and_json_split_like_a_tokenizer(text, at_least, at_most):
    assert at_least <= tokens.text_tokens(text, tokens.OPENAI_CHAT) <= at_most


# -- reasoning -------------------------------------------------------------------------------------


def _with_thinking(thinking: ir.Thinking, *, later_question: bool) -> ir.Request:
    messages = [ir.Message("user", [ir.Text("Where am I?")]),
                ir.Message("assistant", [thinking, ir.ToolCall("c1", "locate", "{}")]),
                ir.Message("user", [ir.ToolResult("c1", [ir.Text("Paris")])])]
    if later_question:
        messages += [ir.Message("assistant", [ir.Text("Paris.")]), ir.Message("user", [ir.Text("Thanks!")])]
    return ir.Request("claude-sonnet-4-5", messages)


def test_thinking_counts_in_the_current_turn_only_and_only_where_it_is_sent():
    thought = "Let me think about where the user is. " * 20
    own = ir.Thinking(thought, signature="sig", source=ir.Dialect.ANTHROPIC)
    foreign = ir.Thinking(thought, encrypted="x" * 700, source=ir.Dialect.RESPONSES)
    bare = tokens.estimate_input_tokens(_with_thinking(ir.Thinking("", source=ir.Dialect.ANTHROPIC),
                                                       later_question=False))
    assert tokens.estimate_input_tokens(_with_thinking(own, later_question=False)) > bare + 150
    assert tokens.estimate_input_tokens(_with_thinking(foreign, later_question=False)) == bare
    older = tokens.estimate_input_tokens(_with_thinking(own, later_question=True))
    assert older < tokens.estimate_input_tokens(_with_thinking(own, later_question=False))
    assert tokens.estimate_input_tokens(_with_thinking(own, later_question=False), ir.Dialect.CHAT) < 100


def test_gemini_thought_signature_counts_as_the_thoughts_it_carries():
    request, _ = recorded_request("google__test_google_streaming_tool_call_thought_signature.1")
    call = request.messages[1].parts[0]
    with_signature = tokens.estimate_input_tokens(request, ir.Dialect.GEMINI)
    signature, call.signature = call.signature, None
    assert with_signature - tokens.estimate_input_tokens(request, ir.Dialect.GEMINI) == len(signature) // 7 > 190


# -- images and documents --------------------------------------------------------------------------


def png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    return base64.b64encode(header + b"\0" * 64).decode()


def jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\1\1\0\0\1\0\1\0\0"
    exif = b"\xff\xe1" + struct.pack(">H", 2002) + b"\0" * 2000  # a big segment before the frame header
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\1\x22\0\2\x11\1\3\x11\1"
    return base64.b64encode(b"\xff\xd8" + app0 + exif + sof0 + b"\0" * 64).decode()


def test_image_sizes_are_read_from_png_and_jpeg_headers():
    assert tokens.image_size(ir.Image(data=png(640, 480), media_type="image/png")) == (640, 480)
    assert tokens.image_size(ir.Image(data=jpeg(1920, 1080), media_type="image/jpeg")) == (1920, 1080)
    assert tokens.image_size(ir.Image(url=f"data:image/png;base64,{png(20, 30)}")) == (20, 30)
    assert tokens.image_size(ir.Image(url="https://example.com/cat.png")) is None
    assert tokens.image_size(ir.Image(data="not base64!", media_type="image/png")) is None


def test_images_cost_what_each_provider_documents():
    small, big = ir.Image(data=png(200, 200)), ir.Image(data=jpeg(4000, 3000))
    unknown = ir.Image(url="https://example.com/cat.png")
    assert tokens.image_tokens(small, tokens.ANTHROPIC) == 53  # 200*200/750
    assert tokens.image_tokens(big, tokens.ANTHROPIC) == 1600
    assert tokens.image_tokens(unknown, tokens.ANTHROPIC) == 1590  # 1092*1092/750
    assert tokens.image_tokens(ir.Image(data=png(1024, 1024)), tokens.OPENAI_CHAT) == 765
    assert tokens.image_tokens(ir.Image(data=png(1024, 1024), detail="low"), tokens.OPENAI_CHAT) == 85
    assert tokens.image_tokens(small, tokens.GEMINI) == 258
    assert tokens.image_tokens(ir.Image(data=png(1000, 1000)), tokens.GEMINI) == 258 * 4


def test_images_and_documents_in_messages_and_tool_results_are_counted():
    text_only = tokens.estimate_input_tokens(_chat("Describe these."))
    request = _chat("Describe these.")
    request.messages[0].parts.append(ir.Image(data=png(750, 100), media_type="image/png"))
    assert tokens.estimate_input_tokens(request) == text_only + 100
    request.messages[0].parts.append(ir.ToolResult("c", [ir.Image(data=png(750, 200))]))
    with_result = tokens.estimate_input_tokens(request)  # + the result's id, as Claude sees it
    assert 0 <= with_result - (text_only + 100 + 200 + tokens.ANTHROPIC.per_result) <= 2
    request.messages[0].parts.append(ir.Document(data=base64.b64encode(b"Quarterly report. " * 50).decode(),
                                                 media_type="text/plain"))
    assert tokens.estimate_input_tokens(request) > with_result + 100


def pdf(pages: int) -> str:
    body = b"%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Count %d >> endobj\n"
    body %= pages
    body += b"".join(b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % (3 + i) for i in range(pages))
    return base64.b64encode(body + b"%%EOF\n").decode()


def test_pdf_pages_are_counted_from_page_objects_else_by_size():
    assert tokens.pdf_pages(pdf(1)) == 1
    assert tokens.pdf_pages(pdf(7)) == 7  # /Type /Pages is not a page
    compressed = base64.b64encode(b"%PDF-1.7\n" + b"x" * 500_000).decode()  # pages hidden in object streams
    assert tokens.pdf_pages(compressed) == 10
    request = _chat("Summarize.")
    request.messages[0].parts.append(ir.Document(data=pdf(3)))
    assert tokens.estimate_input_tokens(request) - tokens.estimate_input_tokens(_chat("Summarize.")) == 9000
    assert tokens.estimate_input_tokens(request, ir.Dialect.GEMINI) < 3 * 258 + 50
    assert tokens.document_tokens(ir.Document(url="https://example.com/a.pdf"), tokens.GEMINI) == 258
