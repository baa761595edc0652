"""Gemini generateContent: request bodies, responses, stream chunks and errors."""

from .count import count_tokens_body, decode_token_count, encode_token_count
from .errors import error_body, is_error_body, parse_error, stream_error
from .front_request import count_tokens_request, decode_request
from .front_response import encode_response, model_entry, model_list
from .front_stream import StreamEncoder
from .passthrough import apply_policies, is_final_event, usage_of
from .request import encode_request, thinking_config, thinking_off
from .response import decode_response
from .stream import NAME, StreamDecoder

MODEL_IN_URL = True  # the model is in the path (models/{model}:generateContent), and so is the framing

