"""This module holds the client of POST /v1beta/models/{model}:generateContent (and :streamGenerateContent?alt=sse):
it writes an Ask as google-genai's ``models.generate_content`` arguments and reads what the SDK made of the answer.

The SDK is the official google-genai, over the same mock transport as the other fronts' SDKs, with automatic
function calling off (the checks run the function-response loop by hand, as a Gemini client with its own tools
does) and no retries. It holds a ``thoughtSignature`` and inline data as bytes and sends them in URL-safe base64
(Gemini reads either alphabet); the opaque data a client held is given here in standard base64, as the upstreams
write it. A streamed answer goes back next turn as google-genai's chats keep it: each chunk's content a Content of
its own. The SDK's own reading drops fields it does not know, so an answer the gateway wrote is also validated
here against the SDK's types, which forbid any field they do not know.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from google import genai
from google.genai import chats, errors, types

from .exchange import Ask, Call, Gateway, Refused, Said, StreamFailed, Tool, model_for, sse_payloads, usage

# How a tool's parameters are declared: google-genai's Schema (Gemini's OpenAPI subset) or parametersJsonSchema.
# Both are common; a function without parameters declares none (Gemini refuses an object without properties).
AS_JSON_SCHEMA = {"retrieve_entity_info", "final_result"}


def schema(json_schema: dict) -> types.Schema:
    """A JSON Schema (the subset the checks use) as google-genai's Schema, its types in Gemini's capitals."""
    return types.Schema(type=json_schema["type"].upper(), required=json_schema.get("required"),
                        properties={name: schema(value) for name, value in json_schema.get("properties", {}).items()}
                        or None)


def declaration(tool: Tool) -> types.FunctionDeclaration:
    declared = types.FunctionDeclaration(name=tool.name, description=tool.description)
    if not tool.schema.get("properties"):
        return declared
    if tool.name in AS_JSON_SCHEMA:
        declared.parameters_json_schema = tool.schema
    else:
        declared.parameters = schema(tool.schema)
    return declared


def standard_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@lru_cache(maxsize=None)
def client(gw: Gateway) -> genai.Client:
    options = types.HttpOptions(base_url="http://gateway.test", api_version="v1beta",
                                httpx_client=gw._transport())  # and no retry_options: no retries
    return genai.Client(api_key="sk-client", http_options=options)


class GeminiFront:
    """A client of the Gemini API's generateContent, through google-genai. Gemini has no switch for parallel
    calls, sends each call whole, reports no cache writes, and its finish reason for a call, a stop sequence
    and the end of a turn is the same STOP."""

    key, title = "gemini", "Gemini"
    has_stop_sequences = True
    has_parallel_switch = False
    whole_calls = True  # a call arrives in one chunk, whatever the upstream streamed
    call_ids_optional = True  # a call from Gemini has no id; a result names its call
    reports_cache_writes = False
    model_in_url = True  # the body names no model: a passthrough body reaches the upstream unchanged
    opaque_field = "thoughtSignature"
    SDK_ERRORS = {"rate_limit": "ClientError RESOURCE_EXHAUSTED", "bad_request": "ClientError INVALID_ARGUMENT"}
    STOPS = {"end_turn": "STOP", "stop_sequence": "STOP", "max_tokens": "MAX_TOKENS", "tool_use": "STOP",
             "content_filter": "SAFETY"}

    def part(self, part) -> types.Part:
        kind = part[0]
        if kind == "text":
            return types.Part(text=part[1])
        if kind == "image":
            return types.Part.from_bytes(data=base64.b64decode(part[2]), mime_type=part[1])
        if kind == "image_url":
            return types.Part.from_uri(file_uri=part[1], mime_type="image/png")
        if kind == "pdf":
            return types.Part.from_bytes(data=base64.b64decode(part[1]), mime_type="application/pdf")
        if kind == "pdf_url":
            return types.Part.from_uri(file_uri=part[1], mime_type="application/pdf")
        raise AssertionError(kind)

    def user(self, content) -> types.Content:
        return types.Content(role="user", parts=[self.part(p) for p in content])

    def tool_results(self, results) -> list:
        """One user turn with a functionResponse for each (Call, parts): text as ``output``, images and PDFs
        as the response's own parts (Gemini 3's multimodal function responses)."""
        responses = []
        for call, parts in results:
            text = "".join(p[1] for p in parts if p[0] == "text")
            files = [types.FunctionResponsePart(inline_data=types.FunctionResponseBlob(
                mime_type=p[1], data=base64.b64decode(p[2]))) for p in parts if p[0] == "image"]
            responses.append(types.Part.from_function_response(name=call.name, response={"output": text},
                                                                parts=files or None))
        return [types.Content(role="user", parts=responses)]

    def called(self, call_id: str, tool: Tool, args: dict) -> types.Content:
        return types.Content(role="model", parts=[types.Part(
            function_call=types.FunctionCall(id=call_id, name=tool.name, args=args))])

    def body(self, ask: Ask, model: str) -> dict:
        config = types.GenerateContentConfig(
            system_instruction=ask.system, max_output_tokens=ask.max_tokens, stop_sequences=list(ask.stop) or None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
        if ask.tools:
            config.tools = [types.Tool(function_declarations=[declaration(t) for t in ask.tools])]
        if ask.tool_choice:
            config.tool_config = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
                mode={"required": "ANY", "auto": "AUTO"}[ask.tool_choice]))
        if ask.thinking:
            config.thinking_config = types.ThinkingConfig(include_thoughts=True, thinking_budget=4000)
            config.max_output_tokens = 8000
        contents = ask.messages if ask.messages is not None else [self.user(ask.content)]
        return {"model": model, "contents": contents, "config": config, "stream": ask.stream}

    def send(self, gw: Gateway, body: dict) -> Said:
        models = client(gw).models
        kwargs = {k: v for k, v in body.items() if k != "stream"}
        # A passthrough answer is Gemini's own, relayed byte for byte (exchange() checks that); the strict
        # checks of the gateway's own writing apply to a converted one.
        converted = body["model"] != model_for("gemini")
        chunks = []
        try:
            if not body["stream"]:
                response = models.generate_content(**kwargs)
                if converted:
                    types.GenerateContentResponse.model_validate_json(gw.last)  # no field the SDK does not know
                return self._said([response], response.candidates[0].content)
            for chunk in models.generate_content_stream(**kwargs):
                chunks.append(chunk)
        except errors.APIError as e:
            status = gw.exchanges[-1][1]
            if status == 200:  # an error chunk in a stream that had begun
                raise StreamFailed(e.message) from None
            assert e.code == status, (e.code, status)
            raise Refused(e.code, f"{type(e).__name__} {e.status}", e.message, dict(e.response.headers),
                          e.details) from None
        if converted:
            for _, data in sse_payloads(gw.last):
                types.GenerateContentResponse.model_validate_json(data)
            # google-genai's chats keep a streamed turn in their history only if every chunk is one they accept.
            assert all(chats._validate_response(chunk) for chunk in chunks)
        return self._said(chunks, [chunk.candidates[0].content for chunk in chunks if chunk.candidates
                                   and chunk.candidates[0].content])

    def _said(self, responses: list, message) -> Said:
        parts = [part for r in responses if r.candidates and r.candidates[0].content
                 for part in r.candidates[0].content.parts or []]
        ends = [r for r in responses if r.candidates and r.candidates[0].finish_reason]
        counts = next((r.usage_metadata for r in reversed(responses) if r.usage_metadata), None)
        thoughts = (counts.thoughts_token_count or 0) if counts else 0
        said = Said(
            text="".join(p.text for p in parts if p.text and not p.thought),
            text_pieces=sum(bool(p.text) and not p.thought for p in parts),
            thinking="".join(p.text for p in parts if p.text and p.thought),
            opaque=[standard_b64(p.thought_signature) for p in parts if p.thought_signature],
            calls=[Call(p.function_call.id, p.function_call.name, p.function_call.args or {}) for p in parts
                   if p.function_call],
            stop=ends[-1].candidates[0].finish_reason.value if ends else None,
            usage=usage(counts.prompt_token_count or 0, counts.cached_content_token_count or 0, 0,
                        (counts.candidates_token_count or 0) + thoughts, thoughts) if counts else {},
            message=message)
        said.unsigned_thinking = bool(said.thinking) and not said.opaque
        return said

