"""The four wire dialects, one package each, by the model ``type`` that names them in config.

Every dialect package exposes the same names, so the request path never
branches on which one it holds:

* ``NAME``, ``is_final_event(name, data)``, ``apply_policies(body, route, system_prompt)`` — passthrough;
* ``error_body(err)``, ``is_error_body(body)``, ``stream_error(err, last_data)``,
  ``parse_error(status, raw, headers, upstream)``;
* ``encode_request(request, losses, route)``, ``decode_response(body)``, ``StreamDecoder`` — upstream side;
* ``decode_request(body)``, ``encode_response(response, model)``, ``StreamEncoder`` — client side,
  where that half exists yet.
"""

from . import anthropic, gemini, openai_chat, openai_responses

BY_TYPE = {
    "anthropic": anthropic,
    "openai": openai_responses,
    "common": openai_chat,
    "google": gemini,
}
