"""This module holds the Gemini upstream: the answers it gives, read back by hand, and what it was sent."""

from __future__ import annotations

import base64
import json

from ..helpers import recorded
from .exchange import COUNTRY, UPSTREAM_MODELS, UPSTREAM_URLS, Answer, Call, Said, sse_payloads, usage
from .upstream import (ERRORS, MIDSTREAM, Scenario, Script, Upstream, arguments_of, data_sse, error_answer,
                       parts_of)


class GeminiUpstream(Upstream):
    key, title = "gemini", "Gemini"
    has_ids = False
    CACHED = usage(2400, 2000, 0, 50, 30)  # Gemini reports no cache writes
    FINISH = {"end_turn": "STOP", "tool_use": "STOP", "stop_sequence": "STOP", "max_tokens": "MAX_TOKENS",
              "content_filter": "SAFETY"}

    def url(self, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{UPSTREAM_URLS['gemini']}/models/{UPSTREAM_MODELS['gemini']}:{method}"

    def asked_to_stream(self, url: str, body: dict) -> bool:
        return ":streamGenerateContent" in url

    def folded(self, name: str) -> Answer:
        """The answer a non-streamed call returns, folded by hand from a recorded stream: its chunks' parts in
        one candidate, adjacent plain text joined, the last finish reason and usage."""
        chunks = [json.loads(data) for _, data in sse_payloads(recorded(f"{name}.response.sse"))]
        parts = []
        for chunk in chunks:
            for part in chunk["candidates"][0].get("content", {}).get("parts", []):
                if parts and set(part) == {"text"} and set(parts[-1]) <= {"text", "thoughtSignature"}:
                    parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
        last = chunks[-1]
        body = {"candidates": [{"content": {"role": "model", "parts": parts},
                                "finishReason": last["candidates"][0]["finishReason"], "index": 0}],
                "usageMetadata": last["usageMetadata"], "modelVersion": last["modelVersion"],
                "responseId": last["responseId"]}
        return Answer(json.dumps(body).encode())

    def text_answer(self, stream: bool) -> Answer:
        name = "google__test_google_model_iter_stream.2"
        return self.recorded(name) if stream else self.folded(name)

    def tool_answer(self, stream: bool) -> Answer:
        return self.recorded("google__test_google_model_iter_stream.0" if stream
                             else "google__test_google_tool_output.0")

    def thinking_scenarios(self) -> list:
        return [Scenario(self.recorded("google__test_google_model_thinking_part_iter.0")),
                Scenario(self.recorded("google__test_google_streaming_tool_call_thought_signature.0"), (COUNTRY,))]

    def error(self, kind: str) -> Answer:
        status, name = {"rate_limit": (429, "RESOURCE_EXHAUSTED"), "bad_request": (400, "INVALID_ARGUMENT")}[kind]
        return error_answer(kind, {"error": {"code": status, "message": ERRORS[kind], "status": name}})

    def stream_error(self) -> Answer:
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
                 "modelVersion": UPSTREAM_MODELS["gemini"], "responseId": "hand"}
        return Answer(data_sse([chunk, {"error": {"code": 503, "message": MIDSTREAM, "status": "UNAVAILABLE"}}],
                               "\r\n\r\n"), True)

    # writing

    @staticmethod
    def _usage(counts: dict) -> dict:
        meta = {"promptTokenCount": counts["input"], "candidatesTokenCount": counts["output"] - counts["reasoning"],
                "totalTokenCount": counts["input"] + counts["output"]}
        if counts["cache_read"]:
            meta["cachedContentTokenCount"] = counts["cache_read"]
        if counts["reasoning"]:
            meta["thoughtsTokenCount"] = counts["reasoning"]
        return meta

    def build(self, script: Script, stream: bool) -> bytes:
        head = {"modelVersion": UPSTREAM_MODELS["gemini"], "responseId": "hand"}
        calls = [{"functionCall": {"name": c[1], "args": json.loads(arguments_of(c))}} for c in script.calls]
        end = {"finishReason": self.FINISH[script.stop], "index": 0}
        if not stream:
            parts = ([{"text": "".join(script.text)}] if script.text else []) + calls
            candidate = {"content": {"role": "model", "parts": parts}, **end} if parts else end
            return json.dumps({"candidates": [candidate], "usageMetadata": self._usage(script.usage), **head}).encode()
        chunks = [{"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}], **head}
                  for part in [{"text": piece} for piece in script.text] + calls]
        if chunks:
            chunks[-1]["candidates"][0].update(end)
        else:
            chunks = [{"candidates": [end], **head}]
        chunks[-1]["usageMetadata"] = self._usage(script.usage)
        return data_sse(chunks, "\r\n\r\n")

    # reading an answer

    def _read(self, chunks) -> Said:
        said = Said()
        for chunk in chunks:
            candidate = chunk["candidates"][0]
            for part in candidate.get("content", {}).get("parts", []):
                if part.get("thoughtSignature"):
                    said.opaque.append(part["thoughtSignature"])
                if "functionCall" in part:
                    said.calls.append(Call(None, part["functionCall"]["name"], part["functionCall"].get("args", {})))
                elif part.get("thought"):
                    said.thinking += part.get("text", "")
                elif part.get("text"):
                    said.text += part["text"]
                    said.text_pieces += 1
            if candidate.get("finishReason"):
                finish = candidate["finishReason"]
                said.stop = {"STOP": "tool_use" if said.calls else "end_turn", "MAX_TOKENS": "max_tokens"}.get(
                    finish, "content_filter")
            if chunk.get("usageMetadata"):
                meta = chunk["usageMetadata"]
                thoughts = meta.get("thoughtsTokenCount", 0)
                said.usage = usage(meta["promptTokenCount"], meta.get("cachedContentTokenCount", 0), 0,
                                   meta.get("candidatesTokenCount", 0) + thoughts, thoughts)
        return said

    def read_json(self, body: dict) -> Said:
        said = self._read([body])
        said.text_pieces = 1 if said.text else 0
        return said

    def read_sse(self, events) -> Said:
        return self._read([json.loads(data) for _, data in events])

    # reading what it was sent

    def _part(self, part: dict):
        """A part as (kind, ...). Gemini reads its fields in camelCase or the proto's snake_case (google-genai
        sends ``inline_data`` inside a function response, ``mime_type`` inside inline data), and base64 in
        either alphabet."""
        if "text" in part and not part.get("thought"):
            return ("text", part["text"])
        data = field(part, "inlineData")
        if data is not None:
            if field(data, "mimeType") == "application/pdf":
                return ("pdf", standard_b64(data["data"]))
            return ("image", field(data, "mimeType"), standard_b64(data["data"]))
        data = field(part, "fileData")
        if data is not None:
            kind = "pdf_url" if field(data, "mimeType") == "application/pdf" else "image_url"
            return (kind, field(data, "fileUri"))
        return None if field(part, "functionResponse") is not None else (next(iter(part)),)

    def _contents(self, body: dict, role: str) -> list:
        return [c for c in body["contents"] if c.get("role", "user") == role]

    def system(self, body: dict) -> str:
        return "".join(p["text"] for p in body.get("systemInstruction", {}).get("parts", []))

    def user_parts(self, body: dict) -> list:
        return parts_of(self._contents(body, "user")[-1]["parts"], self._part)

    def tools(self, body: dict) -> dict:
        """The declarations' schemas in JSON Schema's spelling: Gemini's OpenAPI subset writes types in capitals,
        and a function without parameters has none (Gemini refuses an object without properties)."""
        def spelled(schema):
            if isinstance(schema, dict):
                return {k: v.lower() if k == "type" else spelled(v) for k, v in schema.items()}
            return [spelled(v) for v in schema] if isinstance(schema, list) else schema

        return {d["name"]: spelled(d.get("parameters", d.get("parametersJsonSchema")))
                or {"type": "object", "properties": {}}
                for t in body.get("tools", []) for d in t.get("functionDeclarations", [])}

    def tool_choice(self, body: dict):
        mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode")
        return {"ANY": "required", "AUTO": "auto", "NONE": "none", None: None}[mode]

    def parallel(self, body: dict):
        return None  # Gemini has no such switch

    def thinking_requested(self, body: dict) -> bool:
        thinking = field(body.get("generationConfig", {}), "thinkingConfig") or {}
        return field(thinking, "includeThoughts") is True

    def stop_sent(self, body: dict) -> list:
        return body.get("generationConfig", {}).get("stopSequences", [])

    def calls_sent(self, body: dict) -> list:
        return [(None, p["functionCall"]["name"], p["functionCall"].get("args", {}))
                for c in self._contents(body, "model") for p in c["parts"] if "functionCall" in p]

    def _result(self, response: dict) -> list:
        parts = [("text", v) for v in response.get("response", {}).values() if isinstance(v, str)]
        return parts + [self._part(p) for p in response.get("parts", [])]

    def results_sent(self, body: dict) -> list:
        groups = [[(p["functionResponse"]["name"], self._result(p["functionResponse"])) for p in c["parts"]
                   if "functionResponse" in p] for c in self._contents(body, "user")]
        return [group for group in groups if group]

    def opaque_sent(self, body: dict) -> list:
        return [standard_b64(p["thoughtSignature"]) for c in self._contents(body, "model") for p in c["parts"]
                if p.get("thoughtSignature")]

    def thinking_sent(self, body: dict) -> str:
        return "".join(p.get("text", "") for c in self._contents(body, "model") for p in c["parts"] if p.get("thought"))


def field(message: dict, camel: str):
    """A proto message's field, in either spelling."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return message.get(camel, message.get(snake))


def standard_b64(data: str) -> str:
    """Bytes as Gemini reads them (its JSON takes standard or URL-safe base64: google-genai sends the latter),
    written in the standard alphabet the checks compare with."""
    return base64.b64encode(base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_"))).decode()
