"""Loading and validating the gateway's configuration file.

The file is the Node droid2api's config.json, accepted unchanged, plus a few
extensions (named ``upstreams`` with their own credentials, access keys,
timeouts). It is validated with marshmallow at start; an invalid file stops
startup with one line naming the file, the field path and what is wrong.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from .ir import Dialect
from .reasoning import LEVELS as REASONING_LEVELS
from .validation import error_paths

log = logging.getLogger(__name__)

MODEL_TYPES = ("anthropic", "openai", "common", "google")
# The config's words for the dialects (the Node droid2api's), mapped once to the names code uses.
DIALECT_OF_TYPE = {"anthropic": Dialect.ANTHROPIC, "openai": Dialect.RESPONSES, "common": Dialect.CHAT,
                   "google": Dialect.GEMINI}
DEFAULT_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "google": "google", "common": "fireworks"}
DEFAULT_USER_AGENT = "factory-cli/0.84.0"


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
    model_redirects: dict = field(default_factory=dict)
    endpoints: dict = field(default_factory=dict)  # Factory endpoint URL by model type
    proxies: list = field(default_factory=list)
    models: list = field(default_factory=list)
    upstreams: dict = field(default_factory=dict)
    access_keys: list = field(default_factory=list)
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


def _str(validator=None, **kwargs):
    """A non-empty string, plus ``validator`` if given."""
    validators = [validate.Length(min=1, error="must not be empty")] + ([validator] if validator else [])
    return fields.String(validate=validators, **kwargs)


_HTTP_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an http(s) URL")


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE  # unknown keys are reported as warnings by _unknown_keys


class EndpointSchema(_Strict):
    name = _str(required=True)
    base_url = _str(_HTTP_URL, required=True)


class ProxySchema(_Strict):
    name = fields.String()
    url = _str(validate.URL(schemes={"http", "https", "socks5", "socks5h"}, require_tld=False,
                            error="must be a proxy URL"), required=True)

    @validates_schema
    def _socks_support(self, data, **kwargs):
        # Without PySocks, requests fails every call through a SOCKS proxy; say so now, not per request.
        if data.get("url", "").startswith("socks") and importlib.util.find_spec("socks") is None:
            raise ValidationError("a SOCKS proxy needs PySocks: pip install 'requests[socks]'", "url")


class UpstreamSchema(_Strict):
    name = _str(required=True)
    type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES, error="must be one of {choices}"))
    base_url = _str(_HTTP_URL, required=True)
    factory = fields.Boolean(load_default=False)
    api_key = _str()
    api_key_env = _str()
    auth_header = _str()
    auth_prefix = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    @validates_schema
    def _one_key_source(self, data, **kwargs):
        if "api_key" in data and "api_key_env" in data:
            raise ValidationError("set api_key or api_key_env, not both", "api_key")

    @post_load
    def _build(self, data, **kwargs):
        return UpstreamConfig(**data)


class ModelSchema(_Strict):
    id = _str(required=True)
    name = fields.String()
    type = fields.String(validate=validate.OneOf(MODEL_TYPES, error="must be one of {choices}"))
    reasoning = fields.String(load_default="auto",
                              validate=validate.OneOf(REASONING_LEVELS, error="must be one of {choices}"))
    provider = _str()
    fast = fields.Boolean(load_default=False)
    upstream = _str()
    upstream_model = _str()
    max_tokens = fields.Integer(strict=True, validate=validate.Range(min=1, error="must be a positive integer"))

    @validates_schema
    def _type_or_upstream(self, data, **kwargs):
        if "type" not in data and "upstream" not in data:
            raise ValidationError("is required (or name an upstream)", "type")


class ConfigSchema(_Strict):
    port = fields.Integer(strict=True, load_default=3000,
                          validate=validate.Range(min=1, max=65535, error="must be a port number (1-65535)"))
    host = _str()
    workers = fields.Integer(strict=True, load_default=2,
                             validate=validate.Range(min=1, error="must be a positive integer"))
    model_redirects = fields.Dict(keys=fields.String(), values=_str(), load_default=dict)
    endpoint = fields.List(fields.Nested(EndpointSchema), load_default=list)
    proxies = fields.List(fields.Nested(ProxySchema), load_default=list)
    models = fields.List(fields.Nested(ModelSchema), load_default=list)
    upstreams = fields.List(fields.Nested(UpstreamSchema), load_default=list)
    access_keys = fields.List(_str(), load_default=list)
    dev_mode = fields.Boolean(load_default=False)
    user_agent = _str(load_default=DEFAULT_USER_AGENT)
    system_prompt = fields.String(load_default="")
    connect_timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                              error="must be a positive number"))
    read_timeout = fields.Float(load_default=600.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                            error="must be a positive number"))
    auth_file = _str(load_default="auth.json")
    ping_interval = fields.Float(load_default=10.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                            error="must be a positive number"))
    max_body_mb = fields.Float(load_default=32.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                          error="must be a positive number"))
    data_dir = _str(load_default="data")
    store_retention_days = fields.Float(load_default=30.0, validate=validate.Range(
        min=0, min_inclusive=False, error="must be a positive number"))
    store_max_mb = fields.Float(load_default=512.0, validate=validate.Range(min=0, min_inclusive=False,
                                                                           error="must be a positive number"))

    @validates_schema
    def _references(self, data, **kwargs):
        upstreams = {}
        for i, upstream in enumerate(data.get("upstreams", [])):
            if upstream.name in upstreams:
                raise ValidationError({"upstreams": {i: {"name": [f"duplicate upstream name {upstream.name!r}"]}}})
            upstreams[upstream.name] = upstream
        seen = set()
        for i, model in enumerate(data.get("models", [])):
            if model["id"] in seen:
                raise ValidationError({"models": {i: {"id": [f"duplicate model id {model['id']!r}"]}}})
            seen.add(model["id"])
            if "upstream" not in model:
                continue
            upstream = upstreams.get(model["upstream"])
            if upstream is None:
                raise ValidationError({"models": {i: {"upstream": [f"no upstream named {model['upstream']!r}"]}}})
            if model.get("type", upstream.type) != upstream.type:
                raise ValidationError({"models": {i: {"type": [
                    f"is {model['type']!r} but upstream {upstream.name!r} has type {upstream.type!r}"]}}})


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
    for key in _unknown_keys(ConfigSchema(), raw):
        log.warning("%s: unknown key %s (ignored)", label, key)
    return _settings(data, label, environ)


def _settings(data: dict, label: str, environ) -> Settings:
    upstreams = {u.name: u for u in data["upstreams"]}
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
    access_keys = list(data["access_keys"])
    access_keys += [k.strip() for k in environ.get("DROID2API_ACCESS_KEYS", "").split(",") if k.strip()]
    return Settings(
        path=label,
        port=_env_int(environ, "PORT", data["port"], 65535, "a port number (1-65535)"),
        host=environ.get("DROID2API_HOST") or data.get("host"),
        workers=_env_int(environ, "WEB_CONCURRENCY", data["workers"], None, "a positive integer"),
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
    )


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


def _unknown_keys(schema: Schema, data, path=""):
    if not isinstance(data, dict):
        return
    known = {f.data_key or name: f for name, f in schema.fields.items()}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        f = known.get(key)
        if f is None:
            yield sub
        elif isinstance(f, fields.Nested):
            yield from _unknown_keys(f.schema, value, sub)
        elif isinstance(f, fields.List) and isinstance(f.inner, fields.Nested) and isinstance(value, list):
            for i, item in enumerate(value):
                yield from _unknown_keys(f.inner.schema, item, f"{sub}[{i}]")
