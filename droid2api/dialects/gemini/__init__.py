"""Gemini generateContent: request bodies, responses, stream chunks and errors."""

from .errors import error_body, is_error_body, parse_error, stream_error
from .passthrough import STREAM_END_MARKERS, apply_policies
from .request import encode_request, thinking_config
from .response import decode_response
from .stream import StreamDecoder

NAME = "gemini"
