"""Policies applied to a Responses body that is otherwise forwarded untouched."""

from __future__ import annotations

from ...reasoning import FORCED_LEVELS
from .request import join_texts

# End markers of a complete Responses stream: the event line, or the event's own "type" for servers
# that send data lines only. Neither can occur in model text, where line breaks and quotes are escaped.
STREAM_END_MARKERS = (b"\nevent: response.completed", b"\nevent: response.incomplete", b"\nevent: response.failed",
                      b"\nevent: error", b'"type":"response.completed"', b'"type":"response.incomplete"',
                      b'"type":"response.failed"', b'"type":"error"')


def apply_policies(body: dict, route, system_prompt: str) -> dict:
    body["model"] = route.upstream_model
    if system_prompt:
        instructions = body.get("instructions")
        body["instructions"] = join_texts([system_prompt, instructions]) if instructions else system_prompt
    level = route.model.reasoning
    if level == "off":
        body.pop("reasoning", None)
    elif level in FORCED_LEVELS:
        body["reasoning"] = {"effort": level, "summary": "auto"}
    if route.model.fast and "service_tier" not in body:
        body["service_tier"] = "priority"
    return body
