"""droid2api: an LLM API gateway between the OpenAI, Anthropic and Gemini wire dialects."""

__version__ = "0.1.0"
