"""The two ends of each feature-matrix exchange, read by hand so the oracle shares no code with the gateway's codecs."""

from .anthropic_upstream import AnthropicUpstream
from .chat_upstream import ChatUpstream
from .exchange import (CAPITAL, COUNTRY, ENTITY, IMAGE_URL, PASSTHROUGH, PDF, PDF_URL, PNG, QUESTION, Ask, Call,
                       Refused, Said, StreamFailed, exchange)
from .fronts import FRONTS
from .gemini_upstream import GeminiUpstream
from .responses_upstream import ResponsesUpstream
from .upstream import ERRORS, MIDSTREAM

UPSTREAMS = {up.key: up for up in (AnthropicUpstream(), ResponsesUpstream(), ChatUpstream(), GeminiUpstream())}

__all__ = ["CAPITAL", "COUNTRY", "ENTITY", "ERRORS", "FRONTS", "IMAGE_URL", "MIDSTREAM", "PASSTHROUGH", "PDF",
           "PDF_URL", "PNG", "QUESTION", "UPSTREAMS", "Ask", "Call", "Refused", "Said", "StreamFailed", "exchange"]
