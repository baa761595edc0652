"""The request path, from a routed client request to the Flask response a view returns.

One Gateway object per app holds the settings and the long-lived pieces
(policy, credentials, pooled upstream sessions, access guard); everything
per request is passed in as arguments, never stored on it.
"""

from __future__ import annotations

import logging
import os
import uuid

from flask import Response
from requests.structures import CaseInsensitiveDict

from . import compaction, ir
from .access import AccessGuard, Incoming
from .credentials import factory_credential
from .dialects import BY_NAME
from .dialects.shape import ShapeError
from .errors import GatewayError
from .headers import credential_headers, factory_headers, standard_headers
from .key_pool import Credentials
from .limits import Limits
from .logs import dev_dump
from .policy import Policy, Route
from .relay import (READ_DONE, SSE_TYPE, converted_stream, decode_stream, note_usage, opening_error,
                    passthrough_stream, relayed_headers, stream_response, with_heartbeats)
from .reasoning_memory import ReasoningMemory
from .routing import Router
from .routing.affinity import conversation_key
from .routing.walk import walk
from .store import open_store
from .stored_responses import StoredResponses, as_items
from .tokens import estimate_input_tokens
from .upstream import UpstreamClient, UpstreamFailed, UpstreamResponse
from .usage import Usage
from .wire import dump_bytes, dumps, loads_or_none, parse_object, relayable_as_sent

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings, environ=os.environ):
        self.settings = settings
        self.policy = Policy(settings)
        self.client = UpstreamClient(settings.proxies)
        factory = factory_credential(environ, settings.auth_file, self.client.post_form, redis_url=settings.redis_url)
        self.credentials = Credentials(factory, environ)
        self.guard = AccessGuard(settings.access_keys)
        store = open_store(settings)
        self.responses = StoredResponses(store)
        self.reasoning = ReasoningMemory(store)
        self.router = Router(settings, self.policy, self.credentials, store, environ)
        self.limits = Limits(settings.access_keys, self.router, store)  # models, rpm, tpm, daily_tokens per key
        self.usage = Usage(store)  # requests and tokens per key, model and day
        self.sinks = [self.limits.count, self.usage.record]  # called with each finished RequestRecord (access_log.py)

    # -- routing: the candidates of a request, tried in turn ------------------

    def serve(self, front, requested, body: dict, incoming: Incoming, *, note=None, compact: bool = False,
              **options) -> Response:
        """Answer a client of the ``front`` dialect from the first route that can (routing/walk.py).

        ``options`` go to ``handle`` (count_tokens, and what a Gemini URL says);
        ``note(route)`` is told each route tried, for the access log.
        """
        candidates = self.router.candidates(requested)
        conversation, recalled = None, {}
        if self.router.has_choices(candidates, incoming.client_key):  # else one route, one key: nothing to recall
            conversation = conversation_key(incoming.headers, body)
            recalled = self.router.affinity.recall(conversation)
            candidates = self.router.prefer(candidates, recalled.get("model"))

        def attempt(route: Route) -> Response:
            if note is not None:
                note(route)
            if compact:
                return self.compact(front, route, body, incoming)
            return self.handle(front, route, body, incoming, **options)

        return walk(self.router, candidates, conversation=conversation, recalled=recalled,
                    client_key=incoming.client_key, attempt=attempt, dialect=front.NAME,
                    render_failure=lambda failure: _failure_response(front, failure))

    # -- upstream calls -----------------------------------------------------

    def upstream_headers(self, route: Route, incoming: Incoming, stream: bool) -> dict:
        key = route.key if route.key is not None else self.credentials.keys(route, incoming.client_key)[0]
        secret = self.credentials.secret(key)
        if route.factory:
            return factory_headers(route, secret, incoming.headers, self.settings.user_agent, stream)
        return standard_headers(route, secret, incoming.headers, stream)

    def send(self, route: Route, url: str, body: dict, incoming: Incoming, stream: bool, *,
             forward_query: bool = False, payload: bytes | None = None) -> UpstreamResponse:
        """POST ``body`` upstream and wait for the answer to begin; UpstreamFailed if it does not.

        An error status is read whole and raised, as is a call that gets no
        answer; a streamed answer is held until its first bytes arrive. So
        every failure the router may still route around happens here, before
        the client has been answered. The client's query string is forwarded
        only when asked for (passthrough): it is written in the client's
        dialect, which a converted upstream may read differently. ``payload``
        is ``body`` already written (the client's own bytes).
        """
        if forward_query and incoming.query and not route.factory:
            url += ("&" if "?" in url else "?") + incoming.query
        headers = self.upstream_headers(route, incoming, stream)
        if payload is None:
            payload = dump_bytes(body)
        dev_dump(f"-> {route.upstream} POST {url}", headers, payload, secret_headers=credential_headers(route))
        try:
            upstream = self.client.post(route.upstream, url, headers, payload, route.timeouts.call(stream))
        except GatewayError as e:
            raise UpstreamFailed(e.status, e.message, upstream=route.upstream) from None
        dev_dump(f"<- {route.upstream} {upstream.status}", upstream.headers)
        if upstream.status >= 400:
            raw = upstream.read()
            dev_dump(f"<- {route.upstream} error body", None, raw)
            error = BY_NAME[route.dialect].parse_error(upstream.status, raw, upstream.headers, route.upstream)
            raise UpstreamFailed(upstream.status, error.message, upstream=route.upstream, raw=raw,
                                 headers=upstream.headers, dialect=route.dialect)
        if route.report is not None:
            upstream.on_close = route.report.closed
        if stream:
            try:
                upstream.prime(route.timeouts.idle)
            except GatewayError:
                upstream.close()
                raise
            self._refuse_opening_error(route, upstream)
        return upstream

    def _refuse_opening_error(self, route: Route, upstream: UpstreamResponse):
        """A stream whose first event is a retryable error (Anthropic sends ``overloaded_error`` after a 200)
        is a failed attempt like an error status: nothing has gone to the client yet."""
        if not upstream.is_event_stream:
            return
        opened = opening_error(BY_NAME[route.dialect], upstream.first_bytes)
        if opened is None or opened[0].status not in self.settings.retry_statuses:
            return  # relayed as it is: a client error event is the client's
        error, data = opened
        upstream.close()
        headers = CaseInsensitiveDict(upstream.headers)
        headers["content-type"] = "application/json"  # the event's data: the dialect's error body, if relayed
        raise UpstreamFailed(error.status, error.message, upstream=route.upstream, raw=data.encode(),
                             headers=headers, dialect=route.dialect)

    # -- the one decision: relay or convert ---------------------------------

    def handle(self, front, route: Route, body: dict, incoming: Incoming, *, count_tokens: bool = False,
               **url_params) -> Response:
        """Serve a client of the ``front`` dialect: relay to an upstream of the same dialect, else convert.

        ``url_params`` are what a front's URL says that its body does not (Gemini: ``stream`` and ``sse``);
        the front's decoder reads them, and passthrough calls the upstream the same way.
        """
        if route.dialect == front.NAME:
            return self.passthrough(front, route, body, incoming, count_tokens=count_tokens, **url_params)
        if count_tokens:
            return self.count_tokens(front, route, _decode_count(front, body, route), incoming)
        if front.NAME == ir.Dialect.RESPONSES:  # the one stateful API
            return self.respond_with_state(front, route, body, incoming)
        if getattr(front, "MODEL_IN_URL", False):  # Gemini: the URL names the model and the framing
            request = front.decode_request(body, route.requested, url_params.get("stream", False))
            return self.convert(front, route, request, incoming, framing={"sse": url_params.get("sse", True)})
        return self.convert(front, route, front.decode_request(body), incoming)

    def respond_with_state(self, front, route: Route, body: dict, incoming: Incoming) -> Response:
        """The Responses API over another dialect: the gateway keeps what the upstream cannot.

        A ``previous_response_id`` continues a stored conversation (its input
        and output come first); the answer is stored unless ``store`` is false.
        """
        input_items = self.responses.resolve_references(as_items(body.get("input")))
        previous = body.get("previous_response_id")
        context = self.responses.context(previous) if previous is not None else []
        body = {key: value for key, value in body.items() if key != "previous_response_id"}
        request = front.decode_request({**body, "input": context + input_items})
        if body.get("store") is False:
            return self.convert(front, route, request, incoming)
        conversation = context + input_items
        # Its id is the store's key: the gateway issues it, since upstream ids need not be unique.
        return self.convert(front, route, request, incoming, response_id="resp_" + uuid.uuid4().hex,
                            on_complete=lambda answer: self.responses.save(answer, input_items, conversation))

    def compact(self, front, route: Route, body: dict, incoming: Incoming) -> Response:
        """POST /v1/responses/compact: the upstream's own where it has one, else a summary the model writes."""
        if route.dialect == front.NAME:
            body = front.apply_policies(body, route, self.policy.system_prompt)
            upstream = self.send(route, route.compact_url(), body, incoming, False)
            raw = upstream.read()
            return Response(raw, status=upstream.status, headers=relayed_headers(upstream.headers),
                            content_type=upstream.content_type or "application/json")
        input_items = as_items(body.get("input"))
        request = compaction.summary_request(front.decode_request({**body, "stream": False}))
        answer = self.complete(route, request, incoming)
        compacted = compaction.compacted(input_items, answer, front.encode_usage(answer.usage))
        return Response(dumps(compacted), status=200, content_type="application/json")

    # -- same dialect: relay bytes ------------------------------------------

    def passthrough(self, dialect, route: Route, body: dict, incoming: Incoming, *,
                    count_tokens: bool = False, stream: bool | None = None, sse: bool = True) -> Response:
        """Forward ``body`` with the policies applied and relay the answer byte for byte."""
        if stream is None:
            stream = body.get("stream") is True
        if count_tokens:
            url = route.count_tokens_url()
            if url is None:  # an upstream of the client's dialect that cannot count (Factory's Gemini)
                return self.count_tokens(dialect, route, _decode_count(dialect, body, route), incoming)
            policied = dialect.apply_policies(body, route, self.policy.system_prompt, count_tokens=True)
        else:
            policied = dialect.apply_policies(body, route, self.policy.system_prompt)
            url = route.generate_url(stream, sse=sse)
        # Nothing changed: the client's own bytes go, unparsed and unwritten (0.4 ms for Claude Code's 117 KB).
        payload = incoming.body if incoming.body is not None and relayable_as_sent(incoming.body, body, policied) \
            else None
        # The URL a passthrough builds already says how to stream; the client's own alt= must not repeat it.
        upstream = self.send(route, url, policied, incoming, stream, forward_query=route.dialect != ir.Dialect.GEMINI,
                             payload=payload)
        headers = relayed_headers(upstream.headers)
        if upstream.is_event_stream:
            chunks = passthrough_stream(upstream, dialect, self.settings.dev_mode, incoming.add_usage)
            return stream_response(chunks, headers, upstream.status, upstream.content_type)
        raw = upstream.read()
        dev_dump(f"<- {route.upstream} body", None, raw)
        if not count_tokens:
            note_usage(dialect, loads_or_none(raw), incoming.add_usage)
        return Response(raw, status=upstream.status, headers=headers,
                        content_type=upstream.content_type or "application/json")

    # -- different dialects: convert through the IR -------------------------

    def count_tokens(self, front, route: Route, request: ir.Request, incoming: Incoming) -> Response:
        """The request's input tokens: counted by an upstream that can (Gemini's countTokens), else estimated."""
        self.policy.apply(request, route)
        url = route.count_tokens_url()
        if url is None:
            count = estimate_input_tokens(request, route.dialect)
        else:
            dialect = BY_NAME[route.dialect]
            body = dialect.encode_request(request, [], route)
            upstream = self.send(route, url, dialect.count_tokens_body(body, route), incoming, False)
            raw = upstream.read()
            count = dialect.decode_token_count(parse_object(raw, "upstream token count"), route.upstream)
        return Response(dumps(front.encode_token_count(count)), status=200, content_type="application/json")

    def ask(self, route: Route, request: ir.Request, incoming: Incoming) -> tuple:
        """(upstream response, its answer as IR events, read as they are iterated) for a converted request."""
        dialect = BY_NAME[route.dialect]
        self.policy.apply(request, route)
        self.reasoning.restore(request)  # for clients that dropped it from their history
        losses = list(request.losses)  # what decoding the client's body dropped, then what encoding drops
        body = dialect.encode_request(request, losses, route)
        for loss in losses:
            log.debug("conversion to %s loses %s: %s", route.dialect, loss.field, loss.reason)
        upstream = self.send(route, route.generate_url(request.stream), body, incoming, request.stream)
        if upstream.is_event_stream:
            events = decode_stream(upstream, dialect.StreamDecoder())
        else:
            raw = upstream.read()
            dev_dump(f"<- {route.upstream} body", None, raw)
            events = ir.ResponseEvents(_decode_response(dialect, raw, route.upstream))
        return upstream, self.reasoning.remember(events)

    def complete(self, route: Route, request: ir.Request, incoming: Incoming) -> ir.Response:
        """A converted request's whole answer in the IR (the gateway's own calls: compaction)."""
        upstream, events = self.ask(route, request, incoming)
        try:
            response = _accumulate(events)
        finally:
            upstream.close()
        incoming.add_usage(response.usage)
        return response

    def convert(self, front, route: Route, request: ir.Request, incoming: Incoming, *,
                response_id: str | None = None, on_complete=None, framing: dict | None = None) -> Response:
        """Send ``request`` to an upstream of another dialect and answer in the ``front`` dialect."""
        upstream, events = self.ask(route, request, incoming)
        headers = relayed_headers(upstream.headers)
        if response_id is not None:
            events = _with_id(events, response_id)
        if request.stream:
            encoder = front.StreamEncoder(route.requested, request, **(framing or {}))
            if hasattr(encoder, "ping") and upstream.is_event_stream:  # the front has a keep-alive event
                events = with_heartbeats(events, self.settings.ping_interval)
            chunks = converted_stream(upstream, events, encoder, on_complete, incoming.add_usage)
            return stream_response(chunks, headers, content_type=getattr(encoder, "content_type", SSE_TYPE))
        try:
            response = _accumulate(events)
        finally:
            upstream.close()
        incoming.add_usage(response.usage)
        answer = front.encode_response(response, route.requested, request)
        if on_complete is not None:
            on_complete(answer)
        return Response(dumps(answer), status=200, headers=headers, content_type="application/json")


def _failure_response(front, failure: UpstreamFailed) -> Response:
    """The client's answer to an upstream's error status: relayed as written if it is in the client's own
    dialect and shape, else (an HTML page from a proxy, Factory's {"detail": ...}, another dialect) raised
    with the same status and message, to be rendered in the shape the client's SDK reads."""
    if failure.dialect == front.NAME and front.is_error_body(loads_or_none(failure.raw)):
        return Response(failure.raw, status=failure.status, headers=relayed_headers(failure.upstream_headers),
                        content_type=failure.upstream_headers.get("content-type") or "application/json")
    raise BY_NAME[failure.dialect].parse_error(failure.status, failure.raw, failure.upstream_headers,
                                               failure.upstream)


def _decode_response(dialect, raw: bytes, upstream: str) -> ir.Response:
    """An upstream's complete answer in the IR; an answer that cannot be read is the upstream's fault (502)."""
    try:
        return dialect.decode_response(parse_object(raw, "upstream response"))
    except ShapeError as e:
        raise GatewayError(502, f"upstream {upstream} sent an answer of an unexpected shape: {e}") from None
    except GatewayError as e:
        raise GatewayError(502, f"upstream {upstream} sent an unreadable answer: {e.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        # Every field a decoder reads is checked by shape; this is for what those checks have missed.
        log.warning("cannot decode the answer of %s: %r", upstream, e)
        raise GatewayError(502, f"upstream {upstream} sent an answer of an unexpected shape") from None


def _decode_count(front, body: dict, route: Route) -> ir.Request:
    """A count_tokens body as the ir.Request to count."""
    if hasattr(front, "count_tokens_request"):  # Gemini: its own body shape, the model in the URL
        return front.count_tokens_request(body, route.requested)
    return front.decode_request({"max_tokens": 1, **body})  # a Messages count body has no max_tokens


def _with_id(events, response_id: str):
    """The events with the answer's id replaced by one the gateway issued."""
    if isinstance(events, ir.ResponseEvents):
        events.response.id = response_id
        return events
    return _with_start_id(events, response_id)


def _with_start_id(events, response_id: str):
    for event in events:
        yield ir.Start(response_id, event.model, event.created) if isinstance(event, ir.Start) else event


def _accumulate(events) -> ir.Response:
    """The complete response; a stream that failed raises its error instead."""
    if isinstance(events, ir.ResponseEvents):  # an upstream's JSON answer, decoded whole already
        return events.response
    collected = []
    for event in events:
        if event is READ_DONE:
            continue
        if isinstance(event, ir.StreamError):
            raise GatewayError(event.status, event.message)
        collected.append(event)
    try:
        return ir.accumulate(collected)
    except ValueError as e:
        raise GatewayError(502, f"the upstream answer was incomplete: {e}") from None
