"""This module holds one client per front (the Responses one in responses_front.py, the Gemini one in
gemini_front.py): it writes an Ask in its dialect and reads what the strict SDK assembled. A front's
``tool_results`` takes (Call, parts) pairs: a Gemini function response names its call, the others its id."""

from __future__ import annotations

import json

import anthropic
import openai
from anthropic.types import Message
from openai.lib.streaming.chat import ChatCompletionStreamState

from ..helpers import anthropic_events, strictly
from .exchange import Ask, Call, Gateway, Refused, Said, StreamFailed, Tool, usage
from .gemini_front import GeminiFront
from .responses_front import ResponsesFront


class ChatFront:
    """A client of POST /v1/chat/completions, through the openai SDK."""

    key, title = "chat", "Chat Completions"
    has_stop_sequences = True
    STOPS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
             "content_filter": "content_filter"}

    def part(self, part) -> dict:
        kind = part[0]
        if kind == "text":
            return {"type": "text", "text": part[1]}
        if kind == "image":
            return {"type": "image_url", "image_url": {"url": f"data:{part[1]};base64,{part[2]}"}}
        if kind == "image_url":
            return {"type": "image_url", "image_url": {"url": part[1]}}
        if kind == "pdf":
            return {"type": "file", "file": {"filename": "report.pdf",
                                             "file_data": f"data:application/pdf;base64,{part[1]}"}}
        raise AssertionError(f"Chat Completions has no {kind} part")

    def user(self, content) -> dict:
        return {"role": "user", "content": [self.part(p) for p in content]}

    def tool_results(self, results) -> list:
        return [{"role": "tool", "tool_call_id": call.id,
                 "content": parts[0][1] if [p[0] for p in parts] == ["text"] else [self.part(p) for p in parts]}
                for call, parts in results]

    def body(self, ask: Ask, model: str) -> dict:
        messages = [{"role": "system", "content": ask.system}] if ask.system else []
        messages += ask.messages if ask.messages is not None else [self.user(ask.content)]
        body = {"model": model, "messages": messages, "max_tokens": ask.max_tokens}
        if ask.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.schema}} for t in ask.tools]
        if ask.tool_choice:
            body["tool_choice"] = ask.tool_choice
        if ask.parallel is not None:
            body["parallel_tool_calls"] = ask.parallel
        if ask.thinking:
            body["reasoning_effort"] = "high"
        if ask.stop:
            body["stop"] = list(ask.stop)
        if ask.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def send(self, gw: Gateway, body: dict) -> Said:
        try:
            if not body.get("stream"):
                completion = gw.openai.chat.completions.create(**body)
                return self._said(completion.model_dump(), None, None)
            state, last_usage, text_pieces, arg_pieces = ChatCompletionStreamState(), None, 0, {}
            for chunk in gw.openai.chat.completions.create(**body):  # every chunk validated strictly
                if chunk.usage is not None:
                    last_usage = chunk.usage.model_dump()
                for choice in chunk.choices:
                    text_pieces += bool(choice.delta.content)
                    for call in choice.delta.tool_calls or []:
                        if call.function and call.function.arguments:
                            arg_pieces[call.index] = arg_pieces.get(call.index, 0) + 1
                if chunk.choices:
                    state.handle_chunk(chunk)
            return self._said(state.current_completion_snapshot.model_dump(), last_usage, (text_pieces, arg_pieces))
        except openai.APIStatusError as e:
            raise Refused(e.status_code, type(e).__name__, e.message, dict(e.response.headers), e.body) from None
        except openai.APIError as e:  # the error chunk that ends a stream
            raise StreamFailed(e.message) from None

    def _said(self, completion: dict, streamed_usage, pieces) -> Said:
        choice = completion["choices"][0]
        message = choice["message"]
        details = message.get("reasoning_details") or []
        calls = message.get("tool_calls") or []
        opaque = [d.get("signature") or d.get("data") for d in details if d.get("signature") or d.get("data")]
        opaque += [c["extra_content"]["google"]["thought_signature"] for c in calls
                   if (c.get("extra_content") or {}).get("google", {}).get("thought_signature")]
        counts = completion.get("usage") or streamed_usage or {}
        prompt = counts.get("prompt_tokens_details") or {}
        completion_details = counts.get("completion_tokens_details") or {}
        said = Said(text=message.get("content") or "", thinking=message.get("reasoning_content") or "", opaque=opaque,
                    calls=[Call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
                           for c in calls],
                    stop=choice["finish_reason"],
                    usage=usage(counts.get("prompt_tokens", 0), prompt.get("cached_tokens") or 0,
                                prompt.get("cache_write_tokens") or 0, counts.get("completion_tokens", 0),
                                completion_details.get("reasoning_tokens") or 0),
                    message={k: v for k, v in message.items() if v is not None and k != "parsed"})
        for call in said.message.get("tool_calls") or []:
            call["function"].pop("parsed_arguments", None)
        if pieces is not None:
            said.text_pieces = pieces[0]
            for index, call in enumerate(said.calls):
                call.pieces = pieces[1].get(index, 0)
        else:
            said.text_pieces = 1 if said.text else 0
        return said


class MessagesFront:
    """A client of POST /v1/messages, through the anthropic SDK."""

    key, title = "messages", "Anthropic Messages"
    has_stop_sequences = True
    STOPS = {"end_turn": "end_turn", "stop_sequence": "stop_sequence", "max_tokens": "max_tokens",
             "tool_use": "tool_use", "content_filter": "refusal"}

    def part(self, part) -> dict:
        kind = part[0]
        if kind == "text":
            return {"type": "text", "text": part[1]}
        if kind == "image":
            return {"type": "image", "source": {"type": "base64", "media_type": part[1], "data": part[2]}}
        if kind == "image_url":
            return {"type": "image", "source": {"type": "url", "url": part[1]}}
        if kind == "pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": part[1]}}
        if kind == "pdf_url":
            return {"type": "document", "source": {"type": "url", "url": part[1]}}
        raise AssertionError(kind)

    def user(self, content) -> dict:
        return {"role": "user", "content": [self.part(p) for p in content]}

    def tool_results(self, results) -> list:
        return [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id,
             "content": parts[0][1] if [p[0] for p in parts] == ["text"] else [self.part(p) for p in parts]}
            for call, parts in results]}]

    def called(self, call_id: str, tool: Tool, args: dict) -> dict:
        return {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": tool.name, "input": args}]}

    def body(self, ask: Ask, model: str) -> dict:
        body = {"model": model, "max_tokens": ask.max_tokens,
                "messages": ask.messages if ask.messages is not None else [self.user(ask.content)]}
        if ask.system:
            body["system"] = ask.system
        if ask.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.schema}
                             for t in ask.tools]
        if ask.tool_choice or ask.parallel is False:
            body["tool_choice"] = {"type": {"required": "any"}.get(ask.tool_choice, ask.tool_choice or "auto")}
            if ask.parallel is False:
                body["tool_choice"]["disable_parallel_tool_use"] = True
        if ask.thinking:
            body.update(thinking={"type": "enabled", "budget_tokens": 4000}, max_tokens=8000)
        if ask.stop:
            body["stop_sequences"] = list(ask.stop)
        if ask.stream:
            body["stream"] = True
        return body

    def send(self, gw: Gateway, body: dict) -> Said:
        try:
            if not body.get("stream"):
                message = gw.anthropic.messages.create(**body)
                strictly(Message, gw.last.decode())  # no field the SDK does not know
                return self._said(message, None)
            with gw.anthropic.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
                message = stream.get_final_message()
            return self._said(message, anthropic_events(gw.last))  # grammar and strict types of each event
        except anthropic.APIStatusError as e:
            if e.status_code == 200:  # an error event in a stream that had begun
                raise StreamFailed(e.message) from None
            raise Refused(e.status_code, type(e).__name__, e.message, dict(e.response.headers), e.body) from None

    def _said(self, message, events) -> Said:
        blocks = message.content
        counts = message.usage
        details = counts.output_tokens_details
        said = Said(
            text="".join(b.text for b in blocks if b.type == "text"),
            thinking="".join(b.thinking for b in blocks if b.type == "thinking"),
            opaque=[b.signature if b.type == "thinking" else b.data for b in blocks
                    if (b.type == "thinking" and b.signature) or b.type == "redacted_thinking"],
            unsigned_thinking=any(b.type == "thinking" and not b.signature for b in blocks),
            calls=[Call(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"],
            stop=message.stop_reason, stop_sequence=message.stop_sequence,
            usage=usage(counts.input_tokens + (counts.cache_read_input_tokens or 0)
                        + (counts.cache_creation_input_tokens or 0), counts.cache_read_input_tokens or 0,
                        counts.cache_creation_input_tokens or 0, counts.output_tokens,
                        (details.thinking_tokens if details else 0) or 0),
            message={"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in blocks]})
        if events is None:
            said.text_pieces = 1 if said.text else 0
            return said
        kinds, pieces = {}, {}
        for event in events:
            if event["type"] == "content_block_start":
                kinds[event["index"]] = event["content_block"]["type"]
            elif event["type"] == "content_block_delta":
                delta = event["delta"]
                if delta["type"] == "text_delta":
                    said.text_pieces += 1
                elif delta["type"] == "input_json_delta" and delta["partial_json"]:
                    pieces[event["index"]] = pieces.get(event["index"], 0) + 1
        tool_blocks = [index for index, kind in sorted(kinds.items()) if kind == "tool_use"]
        for call, index in zip(said.calls, tool_blocks):
            call.pieces = pieces.get(index, 0)
        return said


FRONTS = {"chat": ChatFront(), "messages": MessagesFront(), "responses": ResponsesFront(), "gemini": GeminiFront()}
