"""Anthropic Messages: /v1/messages bodies, responses, stream events and errors."""

from .errors import error_body, is_error_body, parse_error, stream_error
from .passthrough import apply_policies, is_final_event
from .request import encode_request
from .response import NAME, decode_response
from .stream import StreamDecoder

