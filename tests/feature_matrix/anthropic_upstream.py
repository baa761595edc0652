"""This module holds the Anthropic Messages upstream: the answers it gives, read back by hand, and what it was sent."""

from __future__ import annotations

import json

from .exchange import CAPITAL, COUNTRY, UPSTREAM_MODELS, UPSTREAM_URLS, Answer, Call, Said, usage
from .upstream import ERRORS, MIDSTREAM, Scenario, Script, Upstream, arguments_of, error_answer, parts_of, sse


class AnthropicUpstream(Upstream):
    key, title = "anthropic", "Anthropic"
    CACHED = usage(2400, 2000, 300, 50, 0)  # Anthropic reports no thinking token count
    FILTERED_TEXT = ("I can't help with that.",)

    def url(self, stream: bool) -> str:
        return UPSTREAM_URLS["anthropic"] + "/v1/messages"

    def text_answer(self, stream: bool) -> Answer:
        return self.recorded("anthropic__test_anthropic_model_thinking_part_stream.0" if stream
                             else "anthropic__test_multiple_parallel_tool_calls.1")

    def tool_answer(self, stream: bool) -> Answer:
        if stream:  # no recorded stream with a tool call
            call = ("toolu_01StreamedCall", CAPITAL.name, ('{"coun', 'try": "Fr', 'ance"}'))
            return self.answer(Script(text=("Let me look.",), calls=(call,), stop="tool_use"), True)
        return self.recorded("anthropic__test_anthropic_tool_output.0")

    def parallel_answer(self, stream: bool) -> Answer:
        if stream:  # no recorded stream with parallel calls
            return super().parallel_answer(True)
        return self.recorded("anthropic__test_multiple_parallel_tool_calls.0")

    def thinking_scenarios(self) -> list:
        return [Scenario(self.recorded("anthropic__test_anthropic_tool_with_thinking.0"), (COUNTRY,),
                         next_request="anthropic__test_anthropic_tool_with_thinking.1.request.json"),
                Scenario(self.recorded("anthropic__test_anthropic_model_thinking_part_stream.0")),
                Scenario(self.recorded("anthropic__test_anthropic_model_thinking_part_redacted_stream.0"))]

    def error(self, kind: str) -> Answer:
        kind_name = {"rate_limit": "rate_limit_error", "bad_request": "invalid_request_error"}[kind]
        return error_answer(kind, {"type": "error", "error": {"type": kind_name, "message": ERRORS[kind]}})

    def stream_error(self) -> Answer:
        return Answer(sse([self._start(usage(12, 0, 0, 1, 0)), self._text_start(0),
                           {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
                           {"type": "error", "error": {"type": "overloaded_error", "message": MIDSTREAM}}]), True)

    # writing

    @staticmethod
    def _usage(counts: dict) -> dict:
        return {"input_tokens": counts["input"] - counts["cache_read"] - counts["cache_write"],
                "cache_creation_input_tokens": counts["cache_write"], "cache_read_input_tokens": counts["cache_read"],
                "output_tokens": counts["output"]}

    def _start(self, counts: dict) -> dict:
        return {"type": "message_start", "message": {
            "id": "msg_01Hand", "type": "message", "role": "assistant", "model": UPSTREAM_MODELS["anthropic"],
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**self._usage(counts), "output_tokens": 1}}}

    @staticmethod
    def _text_start(index: int) -> dict:
        return {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}

    def build(self, script: Script, stream: bool) -> bytes:
        stop = {"content_filter": "refusal"}.get(script.stop, script.stop)
        blocks = ([{"type": "text", "text": "".join(script.text)}] if script.text else []) + [
            {"type": "tool_use", "id": c[0], "name": c[1], "input": json.loads(arguments_of(c))} for c in script.calls]
        if not stream:
            return json.dumps({"id": "msg_01Hand", "type": "message", "role": "assistant",
                               "model": UPSTREAM_MODELS["anthropic"], "content": blocks, "stop_reason": stop,
                               "stop_sequence": script.stop_sequence, "usage": self._usage(script.usage)}).encode()
        events = [self._start(script.usage)]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(self._text_start(index))
                events += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}
                           for t in script.text]
            else:
                call = script.calls[index - bool(script.text)]
                events.append({"type": "content_block_start", "index": index,
                               "content_block": {**block, "input": {}}})
                events += [{"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece}} for piece in call[2]]
            events.append({"type": "content_block_stop", "index": index})
        events += [{"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": script.stop_sequence},
                    "usage": {"output_tokens": script.usage["output"]}}, {"type": "message_stop"}]
        return sse(events)

    # reading an answer

    @staticmethod
    def _counts(raw: dict) -> dict:
        read, write = raw.get("cache_read_input_tokens") or 0, raw.get("cache_creation_input_tokens") or 0
        return usage(raw.get("input_tokens", 0) + read + write, read, write, raw.get("output_tokens", 0))

    def read_json(self, body: dict) -> Said:
        said = Said(stop={"refusal": "content_filter"}.get(body["stop_reason"], body["stop_reason"]),
                    stop_sequence=body.get("stop_sequence"), usage=self._counts(body["usage"]))
        for block in body["content"]:
            if block["type"] == "text":
                said.text += block["text"]
                said.text_pieces = 1
            elif block["type"] == "thinking":
                said.thinking += block["thinking"]
                said.opaque.append(block["signature"])
            elif block["type"] == "redacted_thinking":
                said.opaque.append(block["data"])
            elif block["type"] == "tool_use":
                said.calls.append(Call(block["id"], block["name"], block["input"]))
        return said

    def read_sse(self, events) -> Said:
        said, blocks, raw_usage = Said(), {}, {}
        for _, data in events:
            event = json.loads(data)
            kind = event["type"]
            if kind == "message_start":
                raw_usage.update(event["message"]["usage"])
            elif kind == "content_block_start":
                blocks[event["index"]] = {**event["content_block"], "json": [], "signature": ""}
            elif kind == "content_block_delta":
                block, delta = blocks[event["index"]], event["delta"]
                if delta["type"] == "text_delta":
                    said.text += delta["text"]
                    said.text_pieces += 1
                elif delta["type"] == "thinking_delta":
                    said.thinking += delta["thinking"]
                elif delta["type"] == "signature_delta":
                    block["signature"] += delta["signature"]
                elif delta["type"] == "input_json_delta":
                    block["json"].append(delta["partial_json"])
            elif kind == "message_delta":
                stop = event["delta"]["stop_reason"]
                said.stop = {"refusal": "content_filter"}.get(stop, stop)
                said.stop_sequence = event["delta"].get("stop_sequence")
                raw_usage.update({k: v for k, v in event["usage"].items() if v is not None})
        for _, block in sorted(blocks.items()):
            if block["type"] == "thinking":
                said.opaque.append(block["signature"])
            elif block["type"] == "redacted_thinking":
                said.opaque.append(block["data"])
            elif block["type"] == "tool_use":
                pieces = [p for p in block["json"] if p]
                said.calls.append(Call(block["id"], block["name"], json.loads("".join(pieces) or "{}"), len(pieces)))
        said.usage = self._counts(raw_usage)
        return said

    # reading what it was sent

    def _part(self, block: dict):
        source = block.get("source") or {}
        if block["type"] == "text":
            return ("text", block["text"])
        if block["type"] in ("image", "document"):
            image = block["type"] == "image"
            if source["type"] == "base64":
                return ("image", source["media_type"], source["data"]) if image else ("pdf", source["data"])
            return ("image_url", source["url"]) if image else ("pdf_url", source["url"])
        return None if block["type"] == "tool_result" else (block["type"],)

    def system(self, body: dict) -> str:
        system = body.get("system") or ""
        return system if isinstance(system, str) else "".join(b["text"] for b in system)

    def user_parts(self, body: dict) -> list:
        return parts_of([m for m in body["messages"] if m["role"] == "user"][-1]["content"], self._part)

    def tools(self, body: dict) -> dict:
        return {t["name"]: t["input_schema"] for t in body.get("tools", [])}

    def tool_choice(self, body: dict):
        choice = body.get("tool_choice")
        return None if choice is None else {"any": "required"}.get(choice["type"], choice["type"])

    def parallel(self, body: dict):
        return False if (body.get("tool_choice") or {}).get("disable_parallel_tool_use") else None

    def thinking_requested(self, body: dict) -> bool:
        return (body.get("thinking") or {}).get("type") == "enabled"

    def stop_sent(self, body: dict) -> list:
        return body.get("stop_sequences", [])

    def _assistant_blocks(self, body: dict) -> list:
        return [b for m in body["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
                for b in m["content"]]

    def calls_sent(self, body: dict) -> list:
        return [(b["id"], b["name"], b["input"]) for b in self._assistant_blocks(body) if b["type"] == "tool_use"]

    def results_sent(self, body: dict) -> list:
        groups = [[(b["tool_use_id"], parts_of(b.get("content", ""), self._part)) for b in m["content"]
                   if b["type"] == "tool_result"]
                  for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list)]
        return [group for group in groups if group]

    def opaque_sent(self, body: dict) -> list:
        return [b["signature"] if b["type"] == "thinking" else b["data"] for b in self._assistant_blocks(body)
                if b["type"] in ("thinking", "redacted_thinking")]

    def thinking_sent(self, body: dict) -> str:
        return "".join(b["thinking"] for b in self._assistant_blocks(body) if b["type"] == "thinking")
