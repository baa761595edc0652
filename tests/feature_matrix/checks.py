"""One check per feature of the matrix (tests/test_feature_matrix.py): each drives a front and an upstream
dialect through exchange() and returns what it found lost, each loss asserted exactly, or raises Unsupported
when the gateway refuses the feature."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ..helpers import recorded_json
from .exchange import (CAPITAL, COUNTRY, ENTITY, IMAGE_URL, PASSTHROUGH, PDF, PDF_URL, PNG, QUESTION, Ask, Call,
                       Refused, Said, StreamFailed, exchange)
from .upstream import ERRORS, MIDSTREAM


class Unsupported(Exception):
    """The feature does not carry over at all: the cell is ✘ and this says why."""


IR_STOPS = ("end_turn", "max_tokens", "tool_use", "content_filter")
SDK_ERRORS = {"rate_limit": "RateLimitError", "bad_request": "BadRequestError"}  # the same names in both SDKs


def same_calls(front, got: Said, said: Said):
    """The client's tool calls are the upstream's: names and arguments, and ids where the upstream has them
    (a front whose calls need none, Gemini's, has none where the upstream gave none)."""
    assert said.calls, "the answer holds tool calls"
    assert [(c.name, c.args) for c in got.calls] == [(c.name, c.args) for c in said.calls]
    for mine, theirs in zip(got.calls, said.calls):
        if theirs.id is not None or getattr(front, "call_ids_optional", False):
            assert mine.id == theirs.id
        else:
            assert isinstance(mine.id, str) and mine.id
    ids = [c.id for c in got.calls if c.id is not None]
    assert len(set(ids)) == len(ids)


def follow(front, ask: Ask, got: Said, results=None) -> Ask:
    """The next turn: the assistant message as the client received it, then the tool results (or a question)."""
    later = front.tool_results(results) if results else [front.user((("text", "And the second largest?"),))]
    answer = got.message if isinstance(got.message, list) else [got.message]  # a Responses answer is items
    return replace(ask, messages=[front.user(ask.content), *answer, *later])


def unique(losses: list) -> list:
    return list(dict.fromkeys(losses))


URL_SAFE = str.maketrans("-_", "+/")


def inline_sent(front, up, sent: list, expected) -> list:
    """The loss in inline data the upstream received: none when it is what the client sent; when it is the same
    bytes in the URL-safe alphabet google-genai writes base64 in, the gateway left it so for an upstream that
    reads standard base64 (a Gemini upstream reads either, and its reader gives them in the standard one)."""
    if sent == list(expected):
        return []
    standard = [part[:-1] + (part[-1].translate(URL_SAFE),) if part[0] in ("image", "pdf") else part for part in sent]
    assert (front.key, standard) == ("gemini", list(expected)), sent
    return [f"inline data left in URL-safe base64 (bug: {up.title} reads standard base64)"]


# -- one check per feature: each returns what it found lost ------------------------------------------------


def check_text(front, up) -> list:
    answer = up.text_answer(stream=False)
    got, [hit] = exchange(front, up, Ask(), answer)
    said = up.read(answer)
    assert up.system(hit.body) == "Be brief." and up.user_parts(hit.body) == list(QUESTION)
    assert not up.asked_to_stream(hit.url, hit.body)
    assert got.text == said.text and said.text
    assert got.stop == front.STOPS[said.stop]
    return []


def check_stream(front, up) -> list:
    answer = up.text_answer(stream=True)
    got, [hit] = exchange(front, up, Ask(stream=True), answer)
    said = up.read(answer)
    assert up.asked_to_stream(hit.url, hit.body)
    assert got.text == said.text and said.text
    assert got.text_pieces == said.text_pieces > 1, "one piece out for each piece in, as it arrives"
    assert got.stop == front.STOPS[said.stop]
    return []


def check_tools(front, up) -> list:
    answer = up.tool_answer(stream=False)
    ask = Ask(tools=(COUNTRY, CAPITAL), tool_choice="required")
    got, [hit] = exchange(front, up, ask, answer)
    said = up.read(answer)
    assert up.tools(hit.body) == {tool.name: tool.schema for tool in ask.tools}
    assert up.tool_choice(hit.body) == "required"
    same_calls(front, got, said)
    assert got.stop == front.STOPS["tool_use"]

    results = [(call, (("text", "Mexico"),)) for call in got.calls]
    _, [hit] = exchange(front, up, follow(front, ask, got, results), up.text_answer(stream=False))
    assert up.calls_sent(hit.body) == [(up.call_ref(c), c.name, c.args) for c in got.calls]
    assert up.results_sent(hit.body) == [[(up.ref(c), [("text", "Mexico")]) for c in got.calls]]
    return []


def check_streamed_arguments(front, up) -> list:
    answer = up.tool_answer(stream=True)
    got, _ = exchange(front, up, Ask(tools=(COUNTRY, CAPITAL), stream=True), answer)
    said = up.read(answer)
    same_calls(front, got, said)
    assert got.stop == front.STOPS["tool_use"]
    losses = []
    for mine, theirs in zip(got.calls, said.calls):
        if getattr(front, "whole_calls", False):  # the front's dialect has no piece of a call to send
            assert mine.pieces == 1
            losses.append(f"arguments arrive whole ({front.title} sends each call complete)")
            continue
        assert mine.pieces == theirs.pieces, "each argument fragment goes out as it arrives"
        if theirs.pieces == 1:
            losses.append(f"arguments arrive whole ({up.title} sends each call complete)")
    return unique(losses)


def check_parallel_tools(front, up) -> list:
    family = (("text", "Alice, Bob, Charlie and Daisy are a family. Who is the youngest?"),)
    for stream in (False, True):
        answer = up.parallel_answer(stream)
        ask = Ask(content=family, tools=(ENTITY,), parallel=True, stream=stream)
        got, [hit] = exchange(front, up, ask, answer)
        said = up.read(answer)
        assert len(said.calls) > 1 and up.parallel(hit.body) is not False
        same_calls(front, got, said)
        assert got.stop == front.STOPS["tool_use"]
        # All the results answer the one assistant turn: they go back together, each to its call.
        results = [(call, (("text", f"{call.args['name']} is {20 + i}."),)) for i, call in enumerate(got.calls)]
        _, [hit] = exchange(front, up, follow(front, ask, got, results), up.text_answer(stream))
        assert up.results_sent(hit.body) == [[(up.ref(c), [("text", f"{c.args['name']} is {20 + i}.")])
                                              for i, c in enumerate(got.calls)]]
    _, [hit] = exchange(front, up, Ask(content=family, tools=(ENTITY,), parallel=False), up.text_answer(False))
    if up.parallel(hit.body) is False:
        return []
    if not getattr(front, "has_parallel_switch", True):  # the client cannot ask: the upstream's default holds
        assert up.parallel(hit.body) is not False
        return ["cannot be turned off (Gemini has no switch)"]
    assert up.key == "gemini" and up.parallel(hit.body) is None
    return ["cannot be turned off (Gemini has no switch)"]


def check_thinking(front, up) -> list:
    losses = []
    for scenario in up.thinking_scenarios():
        answer = scenario.answer
        ask = Ask(thinking=True, tools=scenario.tools, stream=answer.sse)
        got, [hit] = exchange(front, up, ask, answer)
        said = up.read(answer)
        assert up.thinking_requested(hit.body)
        assert said.thinking or said.opaque
        assert got.thinking == said.thinking
        if said.opaque and (front.key == "chat" or PASSTHROUGH[front.key] == up.key):
            assert got.opaque == said.opaque  # the client holds the very data
        elif said.opaque and not got.opaque:  # Anthropic's redacted thinking: carried.py has no place for it
            assert (front.key in ("responses", "gemini"), up.key, said.thinking) == (True, "anthropic", "")
            assert b'"redacted_thinking"' in answer.raw and b'"signature_delta"' not in answer.raw
            losses.append(f"redacted thinking dropped (not carried in {front.opaque_field})")
        elif said.opaque:
            assert got.opaque and not got.unsigned_thinking  # another dialect's data, carried in signatures
        elif got.unsigned_thinking:
            losses.append("thinking text only, unsigned")

        # The next turn sends the assistant message back as the client received it.
        results = [(call, (("text", "Mexico"),)) for call in got.calls]
        _, [hit] = exchange(front, up, replace(follow(front, ask, got, results), stream=False), up.text_answer(False))
        if said.opaque:
            assert up.opaque_sent(hit.body) == (said.opaque if got.opaque else []), \
                "the opaque reasoning data goes back exactly"
        elif up.thinking_sent(hit.body) != said.thinking:
            assert up.thinking_sent(hit.body) == ""
            losses.append("not sent back next turn")
        if scenario.next_request:  # the assistant turn the real API accepted on the recorded next request
            assert hit.body["messages"][1] == recorded_json(scenario.next_request)["messages"][1]
    return unique(losses)


def check_images(front, up) -> list:
    losses = []
    inline = (("text", "What is in this picture?"), ("image", "image/png", PNG))
    _, [hit] = exchange(front, up, Ask(content=inline), up.text_answer(False))
    losses += inline_sent(front, up, up.user_parts(hit.body), inline)

    by_url = (("text", "What is in this picture?"), ("image_url", IMAGE_URL))
    try:
        _, [hit] = exchange(front, up, Ask(content=by_url), up.text_answer(False))
        assert up.user_parts(hit.body) == list(by_url)
    except Refused as e:
        assert (e.status, up.key, e.hits) == (400, "gemini", []) and IMAGE_URL in e.message
        losses.append("http(s) URLs refused (400)")

    if front.key != "chat":  # Chat Completions defines no image in a tool message; Messages and Responses do
        result = (("text", "Here it is."), ("image", "image/png", PNG))
        messages = [front.user(QUESTION), front.called("toolu_01Screenshot", COUNTRY, {}),
                    *front.tool_results([(Call("toolu_01Screenshot", COUNTRY.name, {}), result)])]
        _, [hit] = exchange(front, up, Ask(messages=messages, tools=(COUNTRY,)), up.text_answer(False))
        [[(_, parts)]] = up.results_sent(hit.body)
        if up.key == "chat":  # a tool message holds text only: the image follows in a user message
            assert parts == [("text", "Here it is.")] and up.tool_messages_hold_text_only(hit.body)
            follows = up.user_parts({"messages": hit.body["messages"][-1:]})
            losses += inline_sent(front, up, [p for p in follows if p[0] == "image"], result[1:])
        elif parts == [("text", "Here it is.")]:
            assert up.key == "gemini"
            losses.append("dropped from tool results")
        else:
            losses += inline_sent(front, up, parts, result)
    return unique(losses)


def check_documents(front, up) -> list:
    inline = (("text", "Summarise this report."), ("pdf", PDF))
    try:
        _, [hit] = exchange(front, up, Ask(content=inline), up.text_answer(False))
    except Refused as e:
        assert (front.key, e.status, e.hits) == ("chat", 400, [])
        assert "messages[1].content[1].type: 'file' is not supported" in e.message
        raise Unsupported("400: the Chat front reads no `file` part") from None
    losses = inline_sent(front, up, up.user_parts(hit.body), inline)
    if front.key == "chat":
        return losses  # a Chat file part is inline only: there is no PDF by URL to send
    by_url = (("text", "Summarise this report."), ("pdf_url", PDF_URL))
    try:
        _, [hit] = exchange(front, up, Ask(content=by_url), up.text_answer(False))
    except Refused as e:
        assert e.status == 400 and up.key in ("chat", "gemini") and not e.hits and PDF_URL in e.message
        return losses + ["PDF URLs refused (400)"]
    assert up.user_parts(hit.body) == list(by_url)
    return losses


def check_usage(front, up) -> list:
    losses = []
    for stream in (False, True):
        answer = up.usage_answer(stream)
        got, _ = exchange(front, up, Ask(stream=stream), answer)
        said = up.read(answer)
        assert said.usage == up.CACHED and said.usage["cache_read"]
        if got.usage != said.usage:  # Gemini's usageMetadata has no count of the tokens written to the cache
            assert not getattr(front, "reports_cache_writes", True) and said.usage["cache_write"]
            assert got.usage == {**said.usage, "cache_write": 0}
            losses.append("cache writes not reported (Gemini has no count for them)")
    return unique(losses)


def check_stop_reasons(front, up) -> list:
    losses = []
    for stream in (False, True):
        for stop in IR_STOPS:
            answer = up.stop_answer(stop, stream)
            got, _ = exchange(front, up, Ask(stream=stream, tools=(COUNTRY,)), answer)
            assert up.read(answer).stop == stop
            assert got.stop == front.STOPS[stop], stop
        answer = up.stop_answer("stop_sequence", stream)
        if not front.has_stop_sequences:  # the client cannot ask for one; an answer that stopped at one completed
            got, [hit] = exchange(front, up, Ask(stream=stream), answer)
            assert up.stop_sent(hit.body) == [] and got.stop == front.STOPS["stop_sequence"]
            continue
        got, [hit] = exchange(front, up, Ask(stop=("END",), stream=stream), answer)
        if up.stop_sent(hit.body) != ["END"]:
            assert up.key == "responses" and up.stop_sent(hit.body) == []
            losses.append("stop sequences dropped (Responses has none)")
        if got.stop == front.STOPS["stop_sequence"] and front.key == "messages":
            assert got.stop_sequence == "END"
        elif got.stop != front.STOPS["stop_sequence"]:
            assert (front.key, got.stop, got.stop_sequence) == ("messages", "end_turn", None)
            losses.append("stop_sequence reads as end_turn")
    return unique(losses)


def check_errors(front, up) -> list:
    for kind, status in (("rate_limit", 429), ("bad_request", 400)):
        with pytest.raises(Refused) as caught:
            exchange(front, up, Ask(), up.error(kind))
        error = caught.value
        assert (error.status, error.kind) == (status, getattr(front, "SDK_ERRORS", SDK_ERRORS)[kind])
        assert ERRORS[kind] in error.message
        if status == 429:
            assert error.headers.get("retry-after") == "7"
    with pytest.raises(StreamFailed) as caught:  # an error after the stream began: the front's error event
        exchange(front, up, Ask(stream=True), up.stream_error())
    assert MIDSTREAM in str(caught.value)
    return []


CHECKS = {"text": check_text, "stream": check_stream, "tools": check_tools,
          "streamed tool args": check_streamed_arguments, "parallel tools": check_parallel_tools,
          "thinking + signature": check_thinking, "images": check_images, "documents (PDF)": check_documents,
          "usage incl. cache": check_usage, "stop reasons": check_stop_reasons, "errors": check_errors}
