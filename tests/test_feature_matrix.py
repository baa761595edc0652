"""What carries over from each front to each upstream dialect: the README's feature matrix, proved here.

Each cell of the matrix is one test, (front, upstream dialect, feature). Its check drives the app in process
through the front's official SDK, the upstream mocked by `responses` with recorded real answers of its
dialect, or a small answer written after the dialect's API reference where no recording covers the feature
(the feature_matrix package holds both ends, and the checks in checks.py). It checks both ends: what the
upstream received, in its own terms (the PDF as its file part, the tools, the thinking settings, the opaque
reasoning data on the next turn), and what the client assembled, against the upstream's answer read by hand.
In a same-dialect row (passthrough) every exchange must also reach the upstream as sent, only the model
renamed, and come back byte for byte.

A check returns what it found lost, each loss asserted exactly, or raises Unsupported when the gateway
refuses the feature: the cell is ✔, ``degraded: <losses>`` or ``✘ <why>``. Each test asserts its cell
against NOT_FULL, so a change in behaviour fails here until NOT_FULL and the README say so. The README
block between the feature-matrix markers is rendered from the cells the tests produced, and the last test
compares it when the whole matrix was selected. Regenerate it with
``.venv/bin/python -m tests.test_feature_matrix --write``, or ``UPDATE_FEATURE_MATRIX=1`` during pytest.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .feature_matrix import COUNTRY, FRONTS, PASSTHROUGH, PDF, PNG, QUESTION, UPSTREAMS, Ask, Call, exchange
from .feature_matrix.checks import CHECKS, Unsupported

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- feature-matrix:start -->", "<!-- feature-matrix:end -->"

FEATURES = ("text", "stream", "tools", "streamed tool args", "parallel tools", "thinking + signature", "images",
            "documents (PDF)", "usage incl. cache", "stop reasons", "errors")

# -- what the tests expect: every cell is ✔ unless listed here ---------------------------------------------

GEMINI_WHOLE_ARGS = "degraded: arguments arrive whole (Gemini sends each call complete)"
GEMINI_NO_SWITCH = "degraded: cannot be turned off (Gemini has no switch)"
# What a Gemini client cannot be told whatever the upstream: its dialect has no piece of a call, no parallel switch
# and no count of cache writes.
GEMINI_CLIENT = {"streamed tool args": GEMINI_WHOLE_ARGS, "parallel tools": GEMINI_NO_SWITCH,
                 "usage incl. cache": "degraded: cache writes not reported (Gemini has no count for them)"}
NOT_FULL = {
    ("chat", "responses"): {
        "stop reasons": "degraded: stop sequences dropped (Responses has none)",
    },
    ("chat", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": GEMINI_NO_SWITCH,
        "images": "degraded: http(s) URLs refused (400)",
    },
    ("messages", "responses"): {
        "stop reasons": "degraded: stop sequences dropped (Responses has none); stop_sequence reads as end_turn",
    },
    ("messages", "chat"): {
        "thinking + signature": "degraded: thinking text only, unsigned; not sent back next turn",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
        "stop reasons": "degraded: stop_sequence reads as end_turn",
    },
    ("responses", "anthropic"): {
        "thinking + signature": "degraded: redacted thinking dropped (not carried in encrypted_content)",
    },
    ("responses", "chat"): {
        "thinking + signature": "degraded: thinking text only, unsigned; not sent back next turn",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
    },
    ("responses", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": GEMINI_NO_SWITCH,
        "images": "degraded: http(s) URLs refused (400); dropped from tool results",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
    },
    ("messages", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": GEMINI_NO_SWITCH,
        "images": "degraded: http(s) URLs refused (400); dropped from tool results",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
        "stop reasons": "degraded: stop_sequence reads as end_turn",
    },
    ("gemini", "anthropic"): {
        **GEMINI_CLIENT,
        "thinking + signature": "degraded: redacted thinking dropped (not carried in thoughtSignature)",
    },
    ("gemini", "responses"): {
        **GEMINI_CLIENT,
        "stop reasons": "degraded: stop sequences dropped (Responses has none)",
    },
    ("gemini", "chat"): {
        **GEMINI_CLIENT,
        "thinking + signature": "degraded: thinking text only, unsigned; not sent back next turn",
        "documents (PDF)": "degraded: PDF URLs refused (400)",
    },
    ("gemini", "gemini"): {
        "streamed tool args": GEMINI_WHOLE_ARGS,
        "parallel tools": GEMINI_NO_SWITCH,
    },
}


def expected(front: str, upstream: str, feature: str) -> str:
    return NOT_FULL.get((front, upstream), {}).get(feature, "✔")


assert tuple(CHECKS) == FEATURES


def cell(front: str, upstream: str, feature: str) -> str:
    """The matrix cell for one triple, from running its check."""
    try:
        losses = CHECKS[feature](FRONTS[front], UPSTREAMS[upstream])
    except Unsupported as e:
        return f"✘ {e}"
    return "✔" if not losses else "degraded: " + "; ".join(losses)


# -- the tests ---------------------------------------------------------------------------------------------

TRIPLES = [(front, upstream, feature) for front in FRONTS for upstream in UPSTREAMS for feature in FEATURES]
RESULTS = {}  # (front, upstream, feature) -> the cell its test produced


@pytest.mark.parametrize("front, upstream, feature", TRIPLES)
def test_cell(front, upstream, feature):
    found = cell(front, upstream, feature)
    RESULTS[front, upstream, feature] = found
    assert found == expected(front, upstream, feature)


def render(cells: dict) -> str:
    """The README block: one row per front and upstream dialect, one column per feature."""
    lines = [START,
             "<!-- Written by tests/test_feature_matrix.py from its results: "
             "`.venv/bin/python -m tests.test_feature_matrix --write` -->",
             "| front → upstream | " + " | ".join(FEATURES) + " |",
             "|---" * (len(FEATURES) + 1) + "|"]
    for front in FRONTS:
        for upstream in UPSTREAMS:
            name = f"{FRONTS[front].title} → {UPSTREAMS[upstream].title}"
            if PASSTHROUGH[front] == upstream:
                name += " (passthrough)"
            lines.append(f"| {name} | " + " | ".join(cells[front, upstream, f] for f in FEATURES) + " |")
    return "\n".join(lines + [END])


def readme_block(text: str) -> str | None:
    if START not in text or END not in text:
        return None
    return START + text.split(START, 1)[1].split(END, 1)[0] + END


def write_readme(block: str):
    text = README.read_text()
    current = readme_block(text)
    assert current is not None, f"README.md has no {START} ... {END} block to fill"
    README.write_text(text.replace(current, block))


def whole_matrix_selected(session) -> bool:
    selected = {tuple(item.callspec.params[k] for k in ("front", "upstream", "feature")) for item in session.items
                if getattr(item, "originalname", None) == "test_cell" and item.module.__name__ == __name__}
    return selected == set(TRIPLES)


def test_readme_shows_the_matrix_the_tests_produced(request):
    if not whole_matrix_selected(request.session):
        pytest.skip("only part of the feature matrix was selected")
    # Cells whose test has not run yet (another test order) are produced here, the same way.
    block = render({triple: RESULTS.get(triple) or cell(*triple) for triple in TRIPLES})
    if os.environ.get("UPDATE_FEATURE_MATRIX"):
        write_readme(block)
    assert readme_block(README.read_text()) == block, (
        "README.md's feature matrix is not what the tests produced; rewrite it with "
        "`.venv/bin/python -m tests.test_feature_matrix --write`")


def main(argv) -> int:
    block = render({triple: cell(*triple) for triple in TRIPLES})
    if "--write" in argv:
        write_readme(block)
        print(f"README.md: feature matrix written ({len(TRIPLES)} cells)")
        return 0
    print(block)
    return 0 if readme_block(README.read_text()) == block else 1


def test_the_matrix_has_a_row_for_every_front():
    from droid2api.dialects import FRONTS as GATEWAY_FRONTS
    from droid2api.ir import Dialect

    names = {"chat": Dialect.CHAT, "messages": Dialect.ANTHROPIC, "responses": Dialect.RESPONSES,
             "gemini": Dialect.GEMINI}
    assert {front.NAME for front in GATEWAY_FRONTS} == {names[key] for key in FRONTS}, \
        "a new front needs its client here (a Front class) and its rows in the README's feature matrix"


# -- bugs the matrix found, kept as regression tests ---------------------------------------------------------


@pytest.mark.parametrize("upstream", ["anthropic", "responses", "gemini"])
def test_bug_a_chat_clients_pdf_reaches_every_upstream(upstream):
    inline = (("text", "Summarise this report."), ("pdf", PDF))
    up = UPSTREAMS[upstream]
    _, [hit] = exchange(FRONTS["chat"], up, Ask(content=inline), up.text_answer(False))
    assert up.user_parts(hit.body) == list(inline)


def test_bug_a_tool_result_image_reaches_a_chat_upstream_as_chat_defines_it():
    front, up = FRONTS["messages"], UPSTREAMS["chat"]
    result = (("text", "Here it is."), ("image", "image/png", PNG))
    messages = [front.user(QUESTION), front.called("toolu_01Screenshot", COUNTRY, {}),
                *front.tool_results([(Call("toolu_01Screenshot", COUNTRY.name, {}), result)])]
    _, [hit] = exchange(front, up, Ask(messages=messages, tools=(COUNTRY,)), up.text_answer(False))
    assert up.tool_messages_hold_text_only(hit.body)
    assert PNG in json.dumps(hit.body)  # and the model still sees the image


@pytest.mark.parametrize("upstream", ["anthropic", "responses", "chat"])
def test_bug_a_gemini_clients_inline_data_reaches_every_upstream_in_standard_base64(upstream):
    inline = (("text", "What are these?"), ("image", "image/png", PNG), ("pdf", PDF))
    up = UPSTREAMS[upstream]
    _, [hit] = exchange(FRONTS["gemini"], up, Ask(content=inline), up.text_answer(False))
    assert up.user_parts(hit.body) == list(inline)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
