"""This module holds the OpenAI Responses upstream: the answers it gives, read back by hand, and what it was sent."""

from __future__ import annotations

import json

from ..helpers import recorded
from .exchange import FINAL, UPSTREAM_MODELS, UPSTREAM_URLS, Answer, Call, Said, sse_payloads, usage
from .upstream import (MIDSTREAM, Scenario, Script, Upstream, arguments_of, data_url_part, openai_error, parts_of,
                       sse)


class ResponsesUpstream(Upstream):
    key, title = "responses", "Responses"
    CACHED = usage(2400, 2000, 300, 50, 30)
    FILTERED_TEXT = ("I can",)
    INCOMPLETE = {"max_tokens": "max_output_tokens", "content_filter": "content_filter"}

    def url(self, stream: bool) -> str:
        return UPSTREAM_URLS["responses"] + "/responses"

    def completed(self, name: str) -> Answer:
        """The Responses object a non-streamed call returns: the one the recorded stream completes with."""
        for _, data in sse_payloads(recorded(f"{name}.response.sse")):
            event = json.loads(data)
            if event["type"] == "response.completed":
                return Answer(json.dumps(event["response"]).encode())
        raise AssertionError(name)

    def text_answer(self, stream: bool) -> Answer:
        name = "openai_responses__test_openai_responses_stream.1"
        return self.recorded(name) if stream else self.completed(name)

    def tool_answer(self, stream: bool) -> Answer:
        name = "openai_responses__test_openai_responses_stream.0"
        return self.recorded(name) if stream else self.completed(name)

    def thinking_scenarios(self) -> list:
        return [Scenario(self.recorded("openai_responses__test_openai_responses_thinking_part_iter.0")),
                Scenario(self.recorded("openai_responses__test_openai_responses_streaming_usage.0"), (FINAL,))]

    def error(self, kind: str) -> Answer:
        return openai_error(kind)

    def stream_error(self) -> Answer:
        response = self._response([], "in_progress", None, None)
        at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
        events = [{"type": "response.created", "response": response},
                  {"type": "response.in_progress", "response": response},
                  {"type": "response.output_item.added", "output_index": 0,
                   "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant",
                            "content": []}},
                  {"type": "response.content_part.added", **at,
                   "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}},
                  {"type": "response.output_text.delta", **at, "delta": "Hel", "logprobs": []},
                  {"type": "error", "code": "server_error", "message": MIDSTREAM, "param": None}]
        return Answer(sse({**event, "sequence_number": n} for n, event in enumerate(events)), True)

    # writing

    def _response(self, output, status, incomplete, counts) -> dict:
        return {"id": "resp_hand", "object": "response", "created_at": 1760000000, "status": status, "error": None,
                "incomplete_details": incomplete, "model": UPSTREAM_MODELS["responses"], "output": output,
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": counts and {
                    "input_tokens": counts["input"],
                    "input_tokens_details": {"cached_tokens": counts["cache_read"],
                                             "cache_write_tokens": counts["cache_write"]},
                    "output_tokens": counts["output"],
                    "output_tokens_details": {"reasoning_tokens": counts["reasoning"]},
                    "total_tokens": counts["input"] + counts["output"]}}

    def build(self, script: Script, stream: bool) -> bytes:
        items = []
        if script.text:
            items.append({"type": "message", "id": "msg_hand", "status": "completed", "role": "assistant",
                          "content": [{"type": "output_text", "text": "".join(script.text), "annotations": [],
                                       "logprobs": []}]})
        items += [{"type": "function_call", "id": f"fc_hand{i}", "call_id": c[0], "name": c[1],
                   "arguments": arguments_of(c), "status": "completed"} for i, c in enumerate(script.calls)]
        reason = self.INCOMPLETE.get(script.stop)
        final = self._response(items, "incomplete" if reason else "completed", reason and {"reason": reason},
                               script.usage)
        if not stream:
            return json.dumps(final).encode()
        started = {**final, "status": "in_progress", "output": [], "incomplete_details": None, "usage": None}
        events = [{"type": "response.created", "response": started},
                  {"type": "response.in_progress", "response": started}]
        for index, item in enumerate(items):
            at = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                text = item["content"][0]
                events += [{"type": "response.output_item.added", "output_index": index,
                            "item": {**item, "status": "in_progress", "content": []}},
                           {"type": "response.content_part.added", **at, "content_index": 0,
                            "part": {**text, "text": ""}}]
                events += [{"type": "response.output_text.delta", **at, "content_index": 0, "delta": piece,
                            "logprobs": []} for piece in script.text]
                events += [{"type": "response.output_text.done", **at, "content_index": 0, "text": text["text"],
                            "logprobs": []},
                           {"type": "response.content_part.done", **at, "content_index": 0, "part": text}]
            else:
                events.append({"type": "response.output_item.added", "output_index": index,
                               "item": {**item, "status": "in_progress", "arguments": ""}})
                pieces = script.calls[index - bool(script.text)][2]
                events += [{"type": "response.function_call_arguments.delta", **at, "delta": piece}
                           for piece in pieces]
                events.append({"type": "response.function_call_arguments.done", **at, "arguments": item["arguments"]})
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
        events.append({"type": "response.incomplete" if reason else "response.completed", "response": final})
        return sse({**event, "sequence_number": n} for n, event in enumerate(events))

    # reading an answer

    def _said(self, items, response) -> Said:
        said = Said()
        for item in items:
            if item["type"] == "reasoning":
                said.thinking += "".join(s["text"] for s in item.get("summary") or [])
                if item.get("encrypted_content"):
                    said.opaque.append(item["encrypted_content"])
            elif item["type"] == "message":
                said.text += "".join(c.get("text", "") for c in item["content"])
            elif item["type"] == "function_call":
                said.calls.append(Call(item["call_id"], item["name"], json.loads(item["arguments"] or "{}")))
        if response["status"] == "incomplete":
            said.stop = {v: k for k, v in self.INCOMPLETE.items()}[response["incomplete_details"]["reason"]]
        else:
            said.stop = "tool_use" if said.calls else "end_turn"
        counts = response["usage"]
        inputs, outputs = counts.get("input_tokens_details") or {}, counts.get("output_tokens_details") or {}
        said.usage = usage(counts["input_tokens"], inputs.get("cached_tokens") or 0,
                           inputs.get("cache_write_tokens") or 0, counts["output_tokens"],
                           outputs.get("reasoning_tokens") or 0)
        return said

    def read_json(self, body: dict) -> Said:
        said = self._said(body["output"], body)
        said.text_pieces = 1 if said.text else 0
        return said

    def read_sse(self, events) -> Said:
        done, final, text_pieces, arg_pieces = [], None, 0, {}
        for _, data in events:
            event = json.loads(data)
            if event["type"] == "response.output_item.done":
                done.append(event["item"])
            elif event["type"] in ("response.completed", "response.incomplete"):
                final = event["response"]
            elif event["type"] == "response.output_text.delta":
                text_pieces += 1
            elif event["type"] == "response.function_call_arguments.delta" and event["delta"]:
                arg_pieces[event["item_id"]] = arg_pieces.get(event["item_id"], 0) + 1
        said = self._said(done, final)
        said.text_pieces = text_pieces
        calls = [item for item in done if item["type"] == "function_call"]
        for call, item in zip(said.calls, calls):
            call.pieces = arg_pieces.get(item["id"], 0)
        return said

    # reading what it was sent

    def _part(self, part: dict):
        if part["type"] in ("input_text", "output_text"):
            return ("text", part["text"])
        if part["type"] == "input_image":
            return data_url_part(part["image_url"], image=True)
        if part["type"] == "input_file":
            return data_url_part(part.get("file_data") or part.get("file_url"), image=False)
        return (part["type"],)

    def system(self, body: dict) -> str:
        return body.get("instructions") or ""

    def user_parts(self, body: dict) -> list:
        users = [item for item in body["input"] if item.get("role") == "user"]
        return parts_of(users[-1]["content"], self._part)

    def tools(self, body: dict) -> dict:
        return {t["name"]: t["parameters"] for t in body.get("tools", []) if t["type"] == "function"}

    def tool_choice(self, body: dict):
        choice = body.get("tool_choice")
        return choice if not isinstance(choice, dict) else choice.get("name", choice["type"])

    def parallel(self, body: dict):
        return body.get("parallel_tool_calls")

    def thinking_requested(self, body: dict) -> bool:
        encrypted = "reasoning.encrypted_content" in body.get("include", [])
        return bool(body.get("reasoning", {}).get("effort")) and encrypted

    def stop_sent(self, body: dict) -> list:
        return body.get("stop", [])

    def calls_sent(self, body: dict) -> list:
        return [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in body["input"]
                if i.get("type") == "function_call"]

    def results_sent(self, body: dict) -> list:
        groups, current = [], None
        for item in body["input"]:
            if item.get("type") == "function_call_output":
                if current is None:
                    current = []
                    groups.append(current)
                current.append((item["call_id"], parts_of(item["output"], self._part)))
            else:
                current = None
        return groups

    def opaque_sent(self, body: dict) -> list:
        return [i["encrypted_content"] for i in body["input"]
                if i.get("type") == "reasoning" and i.get("encrypted_content")]

    def thinking_sent(self, body: dict) -> str:
        return "".join(s["text"] for i in body["input"] if i.get("type") == "reasoning" for s in i.get("summary", []))
