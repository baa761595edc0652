"""OpenAI Responses: /v1/responses bodies, responses, stream events and errors."""

from ..openai_chat.models import model_entry, model_list  # OpenAI's one model list shape
from .errors import error_body, is_error_body, parse_error, stream_error
from .front_request import decode_request
from .front_response import encode_response, encode_usage
from .front_stream import StreamEncoder
from .passthrough import apply_policies, is_final_event, usage_of
from .request import NAME, encode_request
from .response import decode_response
from .stream import StreamDecoder
