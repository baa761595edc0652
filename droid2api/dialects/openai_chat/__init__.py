"""OpenAI Chat Completions: /v1/chat/completions bodies, responses, stream chunks and errors."""

from .errors import error_body, is_error_body, parse_error, stream_error
from .models import model_entry, model_list
from .passthrough import apply_policies, is_final_event, usage_of
from .request import encode_request
from .response import decode_response, encode_response
from .schema import NAME, decode_request
from .stream import StreamDecoder, StreamEncoder
