"""What the gateway decides about a request before any dialect is involved.

Model redirects, which upstream serves a model and at which URL, the
reasoning level and its numbers, and the configured system prompt. The
per-dialect *how* (where the system prompt goes in an Anthropic body, which
field holds the effort) lives in the dialect modules; this module only
decides *what*.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from . import ir
from .ir import Dialect
from .config import ModelConfig, Settings, UpstreamConfig
from .errors import GatewayError
from .reasoning import reasoning_for

# The path each dialect's generate call appends to a base URL (Gemini's names the model: see generate_url).
GENERATE_PATHS = {
    Dialect.ANTHROPIC: "/v1/messages",
    Dialect.RESPONSES: "/responses",
    Dialect.CHAT: "/chat/completions",
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long an upstream call may take, in seconds, at each stage (see README, "Timeouts")."""

    connect: float
    first_byte: float  # a streamed answer's headers and first bytes
    idle: float  # between two reads of a streamed answer
    read: float  # a non-streamed answer, between two reads

    def call(self, stream: bool) -> tuple:
        """The (connect, read) pair an upstream call starts with."""
        return (self.connect, self.first_byte if stream else self.read)


@dataclass(slots=True)
class Route:
    """Where one request goes: the model's config and its upstream, resolved; ``key`` is set per attempt."""

    requested: str  # the model name the client sent
    model: ModelConfig  # after redirects
    upstream: str  # a name for logs and sessions
    url: str
    factory: bool
    config: UpstreamConfig | None = None
    timeouts: Timeouts | None = None
    key: object = None  # the key_pool.Key this attempt sends
    report: object = None  # told how the attempt's upstream response ended (routing/walk.py)

    @property
    def id(self) -> str:
        """What a circuit breaker and the statistics are kept per: upstream and model."""
        return f"{self.upstream}/{self.upstream_model}"

    def with_key(self, key) -> "Route":
        return replace(self, key=key)

    @property
    def dialect(self) -> str:
        """The Dialect the upstream speaks."""
        return self.model.dialect

    @property
    def fast(self) -> bool:
        return self.model.fast

    @property
    def upstream_model(self) -> str:
        return self.model.upstream_model or self.model.id

    def generate_url(self, stream: bool, *, sse: bool = True) -> str:
        """The generate call's URL; ``sse`` False asks Gemini for its JSON-array stream instead of SSE."""
        if self.dialect != Dialect.GEMINI:
            return self.url if self.factory else _join(self.url, GENERATE_PATHS[self.dialect])
        if self.factory:
            return self.url  # Factory's /g/v1/generate takes the model in the body
        method = ("streamGenerateContent?alt=sse" if sse else "streamGenerateContent") if stream else "generateContent"
        return f"{self.url.rstrip('/')}/models/{self.upstream_model}:{method}"

    def compact_url(self) -> str:
        """A Responses upstream's compact endpoint (``/responses/compact``)."""
        return self.generate_url(False).rstrip("/") + "/compact"

    def count_tokens_url(self) -> str | None:
        """Where the upstream counts a request's tokens; None when it cannot (the gateway estimates)."""
        if self.dialect == Dialect.ANTHROPIC:
            return self.generate_url(False).rstrip("/") + "/count_tokens"
        if self.dialect == Dialect.GEMINI and not self.factory:
            return f"{self.url.rstrip('/')}/models/{self.upstream_model}:countTokens"
        return None


def _join(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(path) else base + path


class Policy:
    def __init__(self, settings: Settings):
        self.settings = settings

    def route(self, requested) -> Route:
        if not isinstance(requested, str) or not requested:
            raise GatewayError(400, "model is required", param="model")
        model = self.settings.model(self.redirect(requested))
        if model is None:
            raise GatewayError(404, f"model {requested!r} is not configured; GET /v1/models lists the models",
                               param="model", code="model_not_found")
        return self.route_to(model, requested)

    def route_to(self, model: ModelConfig, requested: str) -> Route:
        """The route to a configured ``model`` for a client that asked for ``requested``."""
        settings = self.settings
        if model.upstream:
            upstream = settings.upstreams[model.upstream]
            return Route(requested, model, upstream.name, upstream.base_url, upstream.factory, upstream,
                         self.timeouts(upstream))
        url = settings.endpoints.get(model.type)
        if url is None:
            raise GatewayError(503, f"model {model.id!r} has type {model.type!r} but config.json has no "
                                    f"endpoint named {model.type!r}")
        return Route(requested, model, f"factory-{model.type}", url, True, None, self.timeouts(None))

    def timeouts(self, upstream: UpstreamConfig | None) -> Timeouts:
        """An upstream's own timeouts, each falling back to the top-level setting of the same name."""
        def pick(name):
            own = getattr(upstream, name) if upstream is not None else None
            return own if own is not None else getattr(self.settings, name)
        return Timeouts(pick("connect_timeout"), pick("first_byte_timeout"), pick("idle_timeout"),
                        pick("read_timeout"))

    def redirect(self, requested: str) -> str:
        """The configured model a name means: an exact ``model_redirects`` key first, then a configured model
        of that name, then the first glob pattern that matches (``"gemini-*-flash-lite*"``: the utility models
        Gemini CLI and Claude Code call by their own names), else the name itself."""
        redirects = self.settings.model_redirects
        if requested in redirects:
            return redirects[requested]
        if self.settings.model(requested) is not None:
            return requested
        for pattern, target in redirects.items():
            if any(mark in pattern for mark in "*?[") and fnmatch.fnmatchcase(requested, pattern):
                return target
        return requested

    def reasoning_level(self, route: Route) -> str:
        return route.model.reasoning

    @property
    def system_prompt(self) -> str:
        return self.settings.system_prompt

    def apply(self, request: ir.Request, route: Route):
        """Apply model name, system prompt and reasoning level to a decoded request."""
        request.model = route.upstream_model
        if self.settings.system_prompt:
            request.system.insert(0, ir.Instruction(self.settings.system_prompt))
        forced = reasoning_for(route.model.reasoning)
        if forced is not None:
            request.reasoning = forced
        if request.max_tokens is None and route.model.max_tokens:
            request.max_tokens = route.model.max_tokens
