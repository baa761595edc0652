"""The marshmallow schema of config.json: every key, its type, its default and how it is checked.

``config.py`` loads a file through ``ConfigSchema`` and builds the settings
from what it returns; this module only says what a valid file is, so that
one place answers "which keys are there and what do they accept".
"""

from __future__ import annotations

import importlib.util

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from .reasoning import LEVELS as REASONING_LEVELS

MODEL_TYPES = ("anthropic", "openai", "common", "google")
DEFAULT_USER_AGENT = "factory-cli/0.84.0"
DEFAULT_RETRY_STATUSES = (412, 429, 500, 502, 503, 504, 529)
AUTO_MODEL = "auto"  # the model name that lets the gateway pick (routing/plan.py)
KEY_SOURCES = ("api_key", "api_key_env", "api_keys", "api_keys_env")


def _str(validator=None, **kwargs):
    """A non-empty string, plus ``validator`` if given."""
    validators = [validate.Length(min=1, error="must not be empty")] + ([validator] if validator else [])
    return fields.String(validate=validators, **kwargs)


def _seconds(**kwargs):
    """A positive number of seconds."""
    return fields.Float(validate=validate.Range(min=0, min_inclusive=False, error="must be a positive number"),
                        **kwargs)


def _count(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1, error="must be a positive integer"), **kwargs)


_HTTP_URL = validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an http(s) URL")


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE  # unknown keys are reported as warnings by unknown_keys


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
    api_keys = fields.List(_str(), validate=validate.Length(min=1, error="must list at least one key"))
    api_keys_env = _str()
    auth_header = _str()
    auth_prefix = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    connect_timeout = _seconds()
    first_byte_timeout = _seconds()
    idle_timeout = _seconds()
    read_timeout = _seconds()

    @validates_schema
    def _one_key_source(self, data, **kwargs):
        sources = [name for name in KEY_SOURCES if name in data]
        if len(sources) > 1:
            raise ValidationError(f"set one of {', '.join(KEY_SOURCES)}, not {' and '.join(sources)}", sources[1])


class AccessKeySchema(Schema):
    """A named client key: who it is, what it may use, and how much."""

    class Meta:
        unknown = RAISE  # a misspelt limit ("rmp") must not silently mean "no limit"

    name = _str(required=True)
    key = _str()
    key_sha256 = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lower-case hex digits"))
    models = fields.List(_str())  # model ids or glob patterns; absent: every model
    rpm = _count()
    tpm = _count()
    daily_tokens = _count()
    admin = fields.Boolean(load_default=False)

    @validates_schema
    def _one_key(self, data, **kwargs):
        if ("key" in data) == ("key_sha256" in data):
            raise ValidationError("set key or key_sha256 (one of the two)", "key")


class AccessKeyField(fields.Field):
    """An ``access_keys`` entry: a plain key (the original form) or an AccessKeySchema object."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value:
                raise ValidationError("must not be empty")
            return {"key": value}
        if isinstance(value, dict):
            return AccessKeySchema().load(value)
        raise ValidationError("must be a key (a string) or an object with name and key")


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
    max_tokens = _count()
    fallbacks = fields.List(_str())
    auto = fields.Boolean(load_default=True)

    @validates_schema
    def _type_or_upstream(self, data, **kwargs):
        if "type" not in data and "upstream" not in data:
            raise ValidationError("is required (or name an upstream)", "type")


class ConfigSchema(_Strict):
    port = fields.Integer(strict=True, load_default=3000,
                          validate=validate.Range(min=1, max=65535, error="must be a port number (1-65535)"))
    host = _str()
    workers = _count(load_default=2)
    worker_connections = _count(load_default=1000)
    model_redirects = fields.Dict(keys=fields.String(), values=_str(), load_default=dict)
    endpoint = fields.List(fields.Nested(EndpointSchema), load_default=list)
    proxies = fields.List(fields.Nested(ProxySchema), load_default=list)
    models = fields.List(fields.Nested(ModelSchema), load_default=list)
    upstreams = fields.List(fields.Nested(UpstreamSchema), load_default=list)
    access_keys = fields.List(AccessKeyField(), load_default=list)
    redis_url = fields.String(validate=validate.Regexp(r"^(redis|rediss|unix)://", error="must be a redis://, "
                                                       "rediss:// or unix:// URL"))
    log_format = fields.String(load_default="plain", validate=validate.OneOf(("plain", "json"),
                                                                             error="must be one of {choices}"))
    metrics_public = fields.Boolean(load_default=False)
    dev_mode = fields.Boolean(load_default=False)
    user_agent = _str(load_default=DEFAULT_USER_AGENT)
    system_prompt = fields.String(load_default="")
    connect_timeout = _seconds(load_default=10.0)
    read_timeout = _seconds(load_default=600.0)
    first_byte_timeout = _seconds(load_default=120.0)
    idle_timeout = _seconds(load_default=300.0)
    auth_file = _str(load_default="auth.json")
    ping_interval = _seconds(load_default=10.0)
    max_body_mb = _seconds(load_default=32.0)
    data_dir = _str(load_default="data")
    store_retention_days = _seconds(load_default=30.0)
    store_max_mb = _seconds(load_default=512.0)
    fallbacks = fields.List(_str(), load_default=list)
    retry_statuses = fields.List(fields.Integer(strict=True, validate=validate.Range(
        min=400, max=599, error="must be an HTTP error status (400-599)")), load_default=lambda: list(
        DEFAULT_RETRY_STATUSES))
    max_attempts = _count(load_default=10)
    breaker_failures = _count(load_default=5)
    breaker_cooldown = _seconds(load_default=30.0)
    breaker_max_cooldown = _seconds(load_default=600.0)
    rate_limit_rest = _seconds(load_default=30.0)

    @validates_schema
    def _references(self, data, **kwargs):
        upstreams = {}
        for i, upstream in enumerate(data.get("upstreams", [])):
            if upstream["name"] in upstreams:
                raise ValidationError({"upstreams": {i: {"name": [f"duplicate upstream name {upstream['name']!r}"]}}})
            upstreams[upstream["name"]] = upstream
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
            if model.get("type", upstream["type"]) != upstream["type"]:
                raise ValidationError({"models": {i: {"type": [
                    f"is {model['type']!r} but upstream {upstream['name']!r} has type {upstream['type']!r}"]}}})
        self._fallbacks_exist(data, seen)
        names = set()
        for i, entry in enumerate(data.get("access_keys", [])):
            if "name" in entry and entry["name"] in names:
                raise ValidationError({"access_keys": {i: {"name": [f"duplicate key name {entry['name']!r}"]}}})
            names.add(entry.get("name"))

    @staticmethod
    def _fallbacks_exist(data, model_ids: set):
        """Every fallback names a configured model (a typo would silently shorten a chain)."""
        for j, target in enumerate(data.get("fallbacks", [])):
            if target not in model_ids:
                raise ValidationError({"fallbacks": {j: [f"no model with id {target!r}"]}})
        for i, model in enumerate(data.get("models", [])):
            for j, target in enumerate(model.get("fallbacks") or []):
                if target not in model_ids:
                    raise ValidationError({"models": {i: {"fallbacks": {j: [f"no model with id {target!r}"]}}}})


def unknown_keys(schema: Schema, data, path=""):
    """The dotted paths of keys in ``data`` that ``schema`` does not know (reported, then ignored)."""
    if not isinstance(data, dict):
        return
    known = {f.data_key or name: f for name, f in schema.fields.items()}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        f = known.get(key)
        if f is None:
            yield sub
        elif isinstance(f, fields.Nested):
            yield from unknown_keys(f.schema, value, sub)
        elif isinstance(f, fields.List) and isinstance(f.inner, fields.Nested) and isinstance(value, list):
            for i, item in enumerate(value):
                yield from unknown_keys(f.inner.schema, item, f"{sub}[{i}]")
