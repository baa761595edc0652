"""This module holds the client of POST /v1/responses: it writes an Ask as a Responses request and reads what the
openai SDK assembled (``client.responses.create`` / ``client.responses.stream``)."""

from __future__ import annotations

import json

import openai
from openai.types.responses import Response

from ..helpers import strictly
from ..responses_sdk import responses_events
from .exchange import Ask, Call, Gateway, Refused, Said, StreamFailed, Tool, model_for, usage

ENCRYPTED = "reasoning.encrypted_content"  # the ``include`` entry that asks for a reasoning item's opaque data


class ResponsesFront:
    """A client of POST /v1/responses, through the openai SDK. The Responses API has no stop sequences, so an
    Ask's ``stop`` has nothing to be written as; an answer's stop is its ``status`` (``incomplete_details.reason``
    when incomplete) or, for a completed answer with calls, "function_call"."""

    key, title = "responses", "Responses"
    has_stop_sequences = False
    opaque_field = "encrypted_content"
    STOPS = {"end_turn": "completed", "stop_sequence": "completed", "max_tokens": "max_output_tokens",
             "tool_use": "function_call", "content_filter": "content_filter"}

    def part(self, part) -> dict:
        kind = part[0]
        if kind == "text":
            return {"type": "input_text", "text": part[1]}
        if kind == "image":
            return {"type": "input_image", "image_url": f"data:{part[1]};base64,{part[2]}", "detail": "auto"}
        if kind == "image_url":
            return {"type": "input_image", "image_url": part[1], "detail": "auto"}
        if kind == "pdf":
            return {"type": "input_file", "filename": "report.pdf",
                    "file_data": f"data:application/pdf;base64,{part[1]}"}
        if kind == "pdf_url":
            return {"type": "input_file", "file_url": part[1]}
        raise AssertionError(kind)

    def user(self, content) -> dict:
        return {"type": "message", "role": "user", "content": [self.part(p) for p in content]}

    def tool_results(self, results) -> list:
        return [{"type": "function_call_output", "call_id": call.id,
                 "output": parts[0][1] if [p[0] for p in parts] == ["text"] else [self.part(p) for p in parts]}
                for call, parts in results]

    def called(self, call_id: str, tool: Tool, args: dict) -> dict:
        return {"type": "function_call", "call_id": call_id, "name": tool.name, "arguments": json.dumps(args)}

    def body(self, ask: Ask, model: str) -> dict:
        body = {"model": model, "max_output_tokens": ask.max_tokens,
                "input": ask.messages if ask.messages is not None else [self.user(ask.content)]}
        if ask.system:
            body["instructions"] = ask.system
        if ask.tools:
            body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                              "parameters": t.schema, "strict": False} for t in ask.tools]
        if ask.tool_choice:
            body["tool_choice"] = ask.tool_choice
        if ask.parallel is not None:
            body["parallel_tool_calls"] = ask.parallel
        if ask.thinking:  # stateless, as Codex asks: the reasoning comes back in the next request's input
            body.update(reasoning={"effort": "high", "summary": "auto"}, include=[ENCRYPTED], store=False)
        if ask.stream:
            body["stream"] = True
        return body

    def send(self, gw: Gateway, body: dict) -> Said:
        # A passthrough answer is the upstream's, relayed byte for byte (exchange() checks that); the strict
        # checks of the gateway's own writing apply to a converted one. The SDK reads both.
        converted = body["model"] != model_for("responses")
        client = gw.openai if converted else gw.openai_relayed
        try:
            if not body.get("stream"):
                response = client.responses.create(**body)
                if converted:
                    strictly(Response, gw.last.decode())  # no field the SDK does not know
                return self._said(response, None)
            with client.responses.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
                events = list(stream)
            if converted:
                responses_events(gw.last)  # the grammar, and the strict types of each event
        except openai.APIStatusError as e:
            raise Refused(e.status_code, type(e).__name__, e.message, dict(e.response.headers), e.body) from None
        except openai.APIError as e:
            raise StreamFailed(e.message) from None
        # A failure: the error event, then response.failed (whose error Codex reads; an upstream's own stream,
        # relayed, may end at the error event).
        failures = [e.response.error.message for e in events if e.type == "response.failed"]
        failures += [e.message for e in events if e.type == "error"]
        if failures:
            raise StreamFailed(failures[0])
        final = events[-1]
        assert final.type in ("response.completed", "response.incomplete"), final.type
        response = stream.get_final_response() if final.type == "response.completed" else final.response
        # The items as output_item.done gave them, which Codex reads: the gateway's final Response holds the
        # same (responses_events checks it), while OpenAI encrypts a reasoning item anew for each event.
        return self._said(response, events, [e.item for e in events if e.type == "response.output_item.done"])

    def _said(self, response, events, items=None) -> Said:
        items = response.output if items is None else items
        reasoning = [i for i in items if i.type == "reasoning"]
        calls = [i for i in items if i.type == "function_call"]
        if response.status == "incomplete":
            stop = response.incomplete_details.reason
        else:
            assert response.status == "completed", response.status
            stop = "function_call" if calls else "completed"
        counts = response.usage
        inputs, outputs = counts.input_tokens_details, counts.output_tokens_details
        said = Said(
            text="".join(c.text for i in items if i.type == "message" for c in i.content if c.type == "output_text"),
            thinking="".join(s.text for i in reasoning for s in i.summary),
            opaque=[i.encrypted_content for i in reasoning if i.encrypted_content],
            unsigned_thinking=any(i.summary and not i.encrypted_content for i in reasoning),
            calls=[Call(i.call_id, i.name, json.loads(i.arguments or "{}")) for i in calls], stop=stop,
            usage=usage(counts.input_tokens, inputs.cached_tokens or 0, inputs.cache_write_tokens or 0,
                        counts.output_tokens, outputs.reasoning_tokens or 0),
            # The output items go back as the next request's input, as the SDK's examples do.
            message=[item.model_dump(mode="json", exclude_none=True, exclude={"parsed", "parsed_arguments"})
                     for item in items])
        if events is None:
            said.text_pieces = 1 if said.text else 0
            return said
        said.text_pieces = sum(e.type == "response.output_text.delta" for e in events)
        pieces = {}
        for event in events:
            if event.type == "response.function_call_arguments.delta" and event.delta:
                pieces[event.item_id] = pieces.get(event.item_id, 0) + 1
        for call, item in zip(said.calls, calls):
            call.pieces = pieces.get(item.id, 0)
        return said
