"""OpenAI Responses: /v1/responses bodies, responses, stream events and errors."""

from .errors import error_body, parse_error, stream_error
from .passthrough import STREAM_END_MARKERS, apply_policies

NAME = "openai_responses"
