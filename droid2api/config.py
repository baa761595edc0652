"""Loading and validating the gateway's configuration file.

The file is the Node droid2api's config.json, accepted unchanged, plus a few
extensions (named ``upstreams`` with their own credentials, access keys,
timeouts). It is validated with marshmallow at start; an invalid file stops
startup with one line naming the file, the field path and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources

from marshmallow import ValidationError

from .config_schema import (DEFAULT_RETRY_STATUSES, DEFAULT_USER_AGENT, MODEL_TYPES,  # noqa: F401 (re-exported)
                            ConfigSchema, unknown_keys)
from .ir import Dialect
from .validation import error_paths

log = logging.getLogger(__name__)

# The config's words for the dialects (the Node droid2api's), mapped once to the names code uses.
DIALECT_OF_TYPE = {"anthropic": Dialect.ANTHROPIC, "openai": Dialect.RESPONSES, "common": Dialect.CHAT,
                   "google": Dialect.GEMINI}
DEFAULT_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "google": "google", "common": "fireworks"}


class ConfigError(Exception):
    """A configuration problem, already phrased as the one line to print."""


@dataclass
class UpstreamConfig:
    name: str
    type: str
    base_url: str
    factory: bool = False  # Factory credentials and headers, base_url used as the full URL
    api_key: str | None = None
    api_key_env: str | None = None
    auth_header: str | None = None
    auth_prefix: str | None = None
    headers: dict = field(default_factory=dict)
    api_keys: list = field(default_factory=list)  # a key pool, used in turn (see routing/keys.py)
    api_keys_env: str | None = None  # a variable holding a comma-separated key pool
    # Per-upstream timeouts; None takes the top-level setting of the same name.
    connect_timeout: float | None = None
    first_byte_timeout: float | None = None
    idle_timeout: float | None = None
    read_timeout: float | None = None


@dataclass
class ClientKey:
    """One access key: its name (what logs, metrics and usage show), the SHA-256 of the key (the key itself
    is not kept), and what it may use."""

    name: str
    sha256: str
    models: list | None = None  # model ids or globs; None: every model
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    admin: bool = False

    @classmethod
    def plain(cls, key: str) -> "ClientKey":
        """A key given as a plain string: no limits, named by its fingerprint."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return cls(name=f"key-{digest[:8]}", sha256=digest)


@dataclass
class ModelConfig:
    id: str
    type: str
    name: str | None = None
    reasoning: str = "auto"
    provider: str | None = None
    fast: bool = False
    upstream: str | None = None  # name of an entry in `upstreams`; else the Factory endpoint of `type`
    upstream_model: str | None = None  # the name the upstream knows the model by
    max_tokens: int | None = None
    fallbacks: list | None = None  # model ids tried in order when this one fails; None: the top-level list
    auto: bool = True  # a candidate of model "auto"

    @property
    def dialect(self) -> str:
        """The Dialect its upstream speaks."""
        return DIALECT_OF_TYPE[self.type]


@dataclass
class Settings:
    path: str
    port: int = 3000
    host: str | None = None
    workers: int = 2
    worker_connections: int = 1000  # connections one gevent worker serves at once: each open stream is one
    model_redirects: dict = field(default_factory=dict)
    endpoints: dict = field(default_factory=dict)  # Factory endpoint URL by model type
    proxies: list = field(default_factory=list)
    models: list = field(default_factory=list)
    upstreams: dict = field(default_factory=dict)
    access_keys: list = field(default_factory=list)  # ClientKey entries
    redis_url: str | None = None  # shared state in Redis, for several hosts (store/redis_store.py)
    log_format: str = "plain"  # or "json": one object per request
    metrics_public: bool = False  # /metrics without an access key from anywhere, not only from loopback
    dev_mode: bool = False
    user_agent: str = DEFAULT_USER_AGENT
    system_prompt: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    auth_file: str = "auth.json"
    max_body_mb: float = 32.0  # Anthropic's own request limit; Claude Code bodies are far below it
    ping_interval: float = 10.0  # seconds of upstream silence before a converted stream sends a keep-alive
    data_dir: str = "data"  # the state store's directory (droid2api/store), relative to the working directory
    store_retention_days: float = 30.0  # stored entries without their own ttl expire after this
    store_max_mb: float = 512.0  # the store's size bound; the soonest-expiring entries go first
    # Routing and resilience (droid2api/routing): what a failed attempt leads to.
    fallbacks: list = field(default_factory=list)  # for every model without its own
    retry_statuses: tuple = DEFAULT_RETRY_STATUSES
    max_attempts: int = 10  # upstream calls per client request, at most
    first_byte_timeout: float = 120.0  # a streamed answer's first byte; non-streamed answers wait read_timeout
    idle_timeout: float = 300.0  # a stream silent this long ends with an error event
    breaker_failures: int = 5  # consecutive failures that open a route's circuit breaker
    breaker_cooldown: float = 30.0  # seconds the first trip keeps it open; each repeated trip doubles it
    breaker_max_cooldown: float = 600.0
    rate_limit_rest: float = 30.0  # how long a key answered 429 without Retry-After rests

    def model(self, model_id: str) -> ModelConfig | None:
        return self._models_by_id.get(model_id)

    def __post_init__(self):
        self._models_by_id = {m.id: m for m in self.models}

    @property
    def bind_host(self) -> str:
        """Where to listen: loopback unless access keys protect the server."""
        if self.host:
            return self.host
        return "0.0.0.0" if self.access_keys else "127.0.0.1"


def config_path(environ=os.environ) -> str | None:
    """The file to load: $DROID2API_CONFIG, else ./config.json, else None (the packaged default)."""
    if environ.get("DROID2API_CONFIG"):
        return environ["DROID2API_CONFIG"]
    if os.path.exists("config.json"):
        return "config.json"
    return None


def load_settings(environ=os.environ) -> Settings:
    """Read, validate and return the settings; raise ConfigError with a one-line reason."""
    path = config_path(environ)
    if path is None:
        label = "default config.json (packaged)"
        text = resources.files("droid2api").joinpath("default_config.json").read_text("utf-8")
    else:
        label = path
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"{label}: cannot read: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{label}: is not UTF-8 text") from None
    return parse_settings(text, label, environ)


def parse_settings(text: str, label: str, environ=os.environ) -> Settings:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{label}: line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: must hold a JSON object")
    try:
        data = ConfigSchema().load(raw)
    except ValidationError as e:
        problems = "; ".join(f"{path}: {message}" for path, message in error_paths(e.messages))
        raise ConfigError(f"{label}: {problems}") from None
    for key in unknown_keys(ConfigSchema(), raw):
        log.warning("%s: unknown key %s (ignored)", label, key)
    return _settings(data, label, environ)


def _settings(data: dict, label: str, environ) -> Settings:
    upstreams = {u["name"]: UpstreamConfig(**u) for u in data["upstreams"]}
    models = []
    for entry in data["models"]:
        model_type = entry.get("type") or upstreams[entry["upstream"]].type
        models.append(ModelConfig(**{**entry, "type": model_type,
                                     "provider": entry.get("provider", DEFAULT_PROVIDER[model_type])}))
    endpoints = {}
    for entry in data["endpoint"]:
        if entry["name"] not in MODEL_TYPES:
            log.warning("%s: endpoint %r is not one of %s (ignored)", label, entry["name"], ", ".join(MODEL_TYPES))
        endpoints[entry["name"]] = entry["base_url"]
    for model in models:
        if model.upstream is None and model.type not in endpoints:
            log.warning("%s: model %r has type %r but no endpoint of that name", label, model.id, model.type)
    access_keys = [_client_key(entry) for entry in data["access_keys"]]
    access_keys += [ClientKey.plain(k.strip()) for k in environ.get("DROID2API_ACCESS_KEYS", "").split(",")
                    if k.strip()]
    return Settings(
        path=label,
        port=_env_int(environ, "PORT", data["port"], 65535, "a port number (1-65535)"),
        host=environ.get("DROID2API_HOST") or data.get("host"),
        workers=_env_int(environ, "WEB_CONCURRENCY", data["workers"], None, "a positive integer"),
        worker_connections=data["worker_connections"],
        model_redirects=data["model_redirects"],
        endpoints=endpoints,
        proxies=[p["url"] for p in data["proxies"]],
        models=models,
        upstreams=upstreams,
        access_keys=access_keys,
        dev_mode=data["dev_mode"],
        user_agent=data["user_agent"],
        system_prompt=data["system_prompt"],
        connect_timeout=data["connect_timeout"],
        read_timeout=data["read_timeout"],
        auth_file=environ.get("DROID2API_AUTH_FILE") or data["auth_file"],
        max_body_mb=data["max_body_mb"],
        ping_interval=data["ping_interval"],
        data_dir=environ.get("DROID2API_DATA_DIR") or data["data_dir"],
        store_retention_days=data["store_retention_days"],
        store_max_mb=data["store_max_mb"],
        fallbacks=data["fallbacks"],
        retry_statuses=tuple(data["retry_statuses"]),
        max_attempts=data["max_attempts"],
        first_byte_timeout=data["first_byte_timeout"],
        idle_timeout=data["idle_timeout"],
        breaker_failures=data["breaker_failures"],
        breaker_cooldown=data["breaker_cooldown"],
        breaker_max_cooldown=data["breaker_max_cooldown"],
        rate_limit_rest=data["rate_limit_rest"],
        redis_url=environ.get("DROID2API_REDIS_URL") or data.get("redis_url"),
        log_format=data["log_format"],
        metrics_public=data["metrics_public"],
    )


def _client_key(entry: dict) -> ClientKey:
    if "name" not in entry:
        return ClientKey.plain(entry["key"])
    digest = entry.get("key_sha256") or hashlib.sha256(entry["key"].encode()).hexdigest()
    return ClientKey(name=entry["name"], sha256=digest, models=entry.get("models"), rpm=entry.get("rpm"),
                     tpm=entry.get("tpm"), daily_tokens=entry.get("daily_tokens"), admin=entry["admin"])


def _env_int(environ, name: str, default: int, maximum: int | None, what: str) -> int:
    """An integer setting from the environment, overriding ``default``, checked like the file's."""
    text = environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        raise ConfigError(f"{name}: must be {what}, not {text!r}")
    return value
