"""Anthropic Messages: /v1/messages bodies, responses, stream events and errors."""

from .count import count_tokens_body, decode_token_count, encode_token_count
from .errors import error_body, is_error_body, parse_error, stream_error
from .front_request import decode_request
from .front_response import encode_response, model_entry, model_list
from .front_stream import StreamEncoder
from .passthrough import apply_policies, is_final_event, usage_of
from .request import encode_request
from .response import NAME, decode_response
from .stream import StreamDecoder

