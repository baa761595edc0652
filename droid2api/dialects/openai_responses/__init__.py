"""OpenAI Responses: /v1/responses bodies, responses, stream events and errors."""

from .errors import error_body, is_error_body, parse_error, stream_error
from .passthrough import apply_policies, is_final_event
from .request import NAME, encode_request
from .response import decode_response
from .stream import StreamDecoder
