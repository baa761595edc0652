"""This module holds the Chat Completions upstream: the answers it gives, read back by hand, and what it was sent."""

from __future__ import annotations

import json

from ..helpers import recorded
from .exchange import COUNTRY, UPSTREAM_MODELS, UPSTREAM_URLS, Answer, Call, Said, sse_payloads, usage
from .upstream import (MIDSTREAM, Scenario, Script, Upstream, arguments_of, data_sse, data_url_part, openai_error,
                       parts_of)


class ChatUpstream(Upstream):
    key, title = "chat", "Chat"
    CACHED = usage(2400, 2000, 300, 50, 30)
    FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
              "content_filter": "content_filter"}
    STOPS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "content_filter"}

    def url(self, stream: bool) -> str:
        return UPSTREAM_URLS["chat"] + "/chat/completions"

    def folded(self, name: str) -> Answer:
        """The completion a non-streamed call returns, folded by hand from a recorded stream."""
        said, first = self.read_sse(sse_payloads(recorded(f"{name}.response.sse"))), None
        for _, data in sse_payloads(recorded(f"{name}.response.sse")):
            first = first or json.loads(data)
        script = Script(text=(said.text,) if said.text else (),
                        calls=tuple((c.id, c.name, (json.dumps(c.args),)) for c in said.calls),
                        stop=said.stop, usage=said.usage)
        body = json.loads(self.build(script, False))
        body.update(id=first["id"], created=first["created"], model=first["model"],
                    system_fingerprint=first.get("system_fingerprint"))
        return Answer(json.dumps(body).encode())

    def text_answer(self, stream: bool) -> Answer:
        name = "openai__test_run_stream_sync_streams_real_model.1"
        return self.recorded(name) if stream else self.folded(name)

    def tool_answer(self, stream: bool) -> Answer:
        name = "openai__test_run_stream_sync_streams_real_model.0"
        return self.recorded(name) if stream else self.folded(name)

    def thinking_scenarios(self) -> list:
        script = Script(thinking=("The user's country ", "comes first."),
                        calls=(("call_think_1", COUNTRY.name, ("{}",)),), stop="tool_use")
        return [Scenario(self.answer(script, False), (COUNTRY,)), Scenario(self.answer(script, True), (COUNTRY,))]

    def error(self, kind: str) -> Answer:
        return openai_error(kind)

    def stream_error(self) -> Answer:
        chunk = self._chunk({"role": "assistant", "content": "Hel"})
        return Answer(data_sse([chunk, {"error": {"message": MIDSTREAM, "type": "server_error", "param": None,
                                                  "code": None}}]), True)

    # writing

    @staticmethod
    def _usage(counts: dict) -> dict:
        prompt = {"cached_tokens": counts["cache_read"]}
        if counts["cache_write"]:
            prompt["cache_write_tokens"] = counts["cache_write"]
        return {"prompt_tokens": counts["input"], "completion_tokens": counts["output"],
                "total_tokens": counts["input"] + counts["output"], "prompt_tokens_details": prompt,
                "completion_tokens_details": {"reasoning_tokens": counts["reasoning"]}}

    def _chunk(self, delta: dict, finish=None, **extra) -> dict:
        return {"id": "chatcmpl-hand", "object": "chat.completion.chunk", "created": 1760000000,
                "model": UPSTREAM_MODELS["chat"],
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}

    def build(self, script: Script, stream: bool) -> bytes:
        finish = self.FINISH[script.stop]
        if not stream:
            message = {"role": "assistant", "content": "".join(script.text) or None, "refusal": None}
            if script.thinking:
                message["reasoning_content"] = "".join(script.thinking)
            if script.calls:
                message["tool_calls"] = [{"id": c[0], "type": "function",
                                          "function": {"name": c[1], "arguments": arguments_of(c)}}
                                         for c in script.calls]
            return json.dumps({"id": "chatcmpl-hand", "object": "chat.completion", "created": 1760000000,
                               "model": UPSTREAM_MODELS["chat"],
                               "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                               "usage": self._usage(script.usage)}).encode()
        chunks = [self._chunk({"role": "assistant", "content": ""})]
        chunks += [self._chunk({"reasoning_content": piece}) for piece in script.thinking]
        chunks += [self._chunk({"content": piece}) for piece in script.text]
        for index, (call_id, name, pieces) in enumerate(script.calls):
            chunks.append(self._chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                                       "function": {"name": name, "arguments": ""}}]}))
            chunks += [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
        chunks.append(self._chunk({}, finish))
        usage_chunk = {**self._chunk({}), "choices": [], "usage": self._usage(script.usage)}
        return data_sse([*chunks, usage_chunk, "[DONE]"])

    # reading an answer

    @staticmethod
    def _counts(raw: dict) -> dict:
        prompt, completion = raw.get("prompt_tokens_details") or {}, raw.get("completion_tokens_details") or {}
        return usage(raw["prompt_tokens"], prompt.get("cached_tokens") or 0, prompt.get("cache_write_tokens") or 0,
                     raw["completion_tokens"], completion.get("reasoning_tokens") or 0)

    def read_json(self, body: dict) -> Said:
        choice = body["choices"][0]
        message = choice["message"]
        return Said(text=message.get("content") or "", text_pieces=1 if message.get("content") else 0,
                    thinking=message.get("reasoning_content") or "",
                    calls=[Call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"] or "{}"))
                           for c in message.get("tool_calls") or []],
                    stop=self.STOPS[choice["finish_reason"]], usage=self._counts(body["usage"]))

    def read_sse(self, events) -> Said:
        said, calls = Said(), {}
        for _, data in events:
            if data == "[DONE]":
                continue
            chunk = json.loads(data)
            if chunk.get("usage"):
                said.usage = self._counts(chunk["usage"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    said.text += delta["content"]
                    said.text_pieces += 1
                said.thinking += delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls") or []:
                    entry = calls.setdefault(call["index"], {"id": None, "name": "", "args": []})
                    entry["id"] = entry["id"] or call.get("id")
                    entry["name"] += (call.get("function") or {}).get("name") or ""
                    if (call.get("function") or {}).get("arguments"):
                        entry["args"].append(call["function"]["arguments"])
                if choice.get("finish_reason"):
                    said.stop = self.STOPS[choice["finish_reason"]]
        said.calls = [Call(c["id"], c["name"], json.loads("".join(c["args"]) or "{}"), len(c["args"]))
                      for _, c in sorted(calls.items())]
        return said

    # reading what it was sent

    def _part(self, part: dict):
        if part["type"] == "text":
            return ("text", part["text"])
        if part["type"] == "image_url":
            return data_url_part(part["image_url"]["url"], image=True)
        if part["type"] == "file":
            return data_url_part(part["file"]["file_data"], image=False)
        return (part["type"],)

    def system(self, body: dict) -> str:
        return "".join(m["content"] for m in body["messages"] if m["role"] in ("system", "developer"))

    def user_parts(self, body: dict) -> list:
        return parts_of([m for m in body["messages"] if m["role"] == "user"][-1]["content"], self._part)

    def tools(self, body: dict) -> dict:
        return {t["function"]["name"]: t["function"]["parameters"] for t in body.get("tools", [])}

    def tool_choice(self, body: dict):
        choice = body.get("tool_choice")
        return choice["function"]["name"] if isinstance(choice, dict) else choice

    def parallel(self, body: dict):
        return body.get("parallel_tool_calls")

    def thinking_requested(self, body: dict) -> bool:
        return body.get("reasoning_effort") in ("low", "medium", "high")

    def stop_sent(self, body: dict) -> list:
        stop = body.get("stop", [])
        return [stop] if isinstance(stop, str) else stop

    def calls_sent(self, body: dict) -> list:
        return [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for m in body["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]

    def results_sent(self, body: dict) -> list:
        groups, current = [], None
        for message in body["messages"]:
            if message["role"] == "tool":
                if current is None:
                    current = []
                    groups.append(current)
                current.append((message["tool_call_id"], parts_of(message["content"], self._part)))
            else:
                current = None
        return groups

    def opaque_sent(self, body: dict) -> list:
        return []  # Chat Completions has no opaque reasoning data

    def thinking_sent(self, body: dict) -> str:
        return "".join(m.get("reasoning_content") or "" for m in body["messages"] if m["role"] == "assistant")

    def tool_messages_hold_text_only(self, body: dict) -> bool:
        """What the Chat Completions reference allows in a tool message: a string or text parts."""
        return all(isinstance(m["content"], str) or all(p["type"] == "text" for p in m["content"])
                   for m in body["messages"] if m["role"] == "tool")
