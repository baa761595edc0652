"""Gemini generateContent: request bodies, responses, stream chunks and errors."""

from .errors import error_body, parse_error, stream_error
from .passthrough import STREAM_END_MARKERS, apply_policies

NAME = "gemini"
