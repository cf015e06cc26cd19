"""`record.outcome.settle`, rule by rule, on captures built by hand (the end-to-end cases, with
the real proxy and clients, are in tests/hardening/test_outcome.py)."""

from __future__ import annotations

import pytest

from anthropic_proxy.errors import render_sse
from anthropic_proxy.exchange import Capture
from anthropic_proxy.record import response
from anthropic_proxy.record.outcome import CUT_SHORT, Verdict, settle
from tests.fakes.anthropic_upstream import error_event, message, message_events, text_block

EVENTS = message_events(message(text_block("an answer in three parts")))
PROXY_TAIL = render_sse("api_error", "upstream connection lost: reset")
SSE = [("content-type", "text/event-stream")]


def capture(state: str, chunks: list[bytes], status: int = 200, kind: str | None = None,
            path: str = "/v1/messages") -> Capture:  # fmt: skip
    c = Capture("ex_1", "POST", path, "", "127.0.0.1", [], b"{}", status=status)
    c.response_headers = SSE
    c.chunks, c.chunk_times = chunks, [0.001 * i for i in range(len(chunks))]
    c.finish(state, kind, f"{kind} seen by the proxy" if kind else None)
    return c


def verdict(c: Capture, stream: bool = True) -> Verdict:
    reply = (
        response.from_stream(c.chunks, c.chunk_times)
        if stream
        else response.from_json(b"".join(c.chunks))
    )
    return settle(c, reply, stream)


@pytest.mark.parametrize("state", ["success", "client_closed"])
def test_an_error_event_is_the_outcome_however_the_relay_ended(state: str) -> None:
    c = capture(state, [*EVENTS[:4], error_event("overloaded_error", "Overloaded")])
    assert verdict(c) == Verdict("error", "overloaded_error", "Overloaded")


@pytest.mark.parametrize("state", ["upstream_broken", "timeout"])
def test_the_upstreams_error_wins_over_a_later_failed_read(state: str) -> None:
    c = capture(state, [*EVENTS[:4], error_event(), PROXY_TAIL], kind=state)
    assert verdict(c) == Verdict("error", "overloaded_error", "Overloaded")


@pytest.mark.parametrize("state", ["upstream_broken", "timeout"])
def test_the_proxys_own_closing_event_is_not_an_upstream_error(state: str) -> None:
    c = capture(state, [*EVENTS[:4], PROXY_TAIL], kind=state)
    assert verdict(c) == Verdict(state, state, f"{state} seen by the proxy")


def test_relayed_to_message_stop_is_a_success_even_if_the_client_left() -> None:
    assert verdict(capture("client_closed", EVENTS, kind="client_closed")) == Verdict("success")


def test_client_leaving_a_normal_answer_is_client_closed() -> None:
    c = capture("client_closed", EVENTS[:4], kind="client_closed")
    assert verdict(c).state == "client_closed"


def test_a_clean_end_without_message_stop_was_cut_short() -> None:
    assert verdict(capture("success", EVENTS[:4])) == Verdict(
        "upstream_broken", "upstream_broken", CUT_SHORT
    )


def test_only_messages_streams_need_a_message_stop() -> None:
    other = capture("success", [b"event: x\ndata: {}\n\n"], path="/v1/other")
    assert verdict(other) == Verdict("success")


def test_an_error_status_takes_the_bodys_error_type() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
    c = capture("client_closed", [body], status=429, kind="client_closed")
    assert verdict(c, stream=False) == Verdict("error", "rate_limit_error", "slow down")


def test_an_error_status_without_a_readable_body_is_named_by_its_status() -> None:
    c = capture("error", [b"<html>bad gateway"], status=502)
    assert verdict(c, stream=False) == Verdict("error", "http_502", None)


def test_the_proxys_own_error_answer_keeps_its_kind() -> None:
    body = b'{"type":"error","error":{"type":"api_error","message":"upstream unreachable"}}'
    c = capture("error", [body], status=502, kind="upstream_unavailable")
    assert verdict(c, stream=False).error_kind == "upstream_unavailable"


@pytest.mark.parametrize("state", ["pending", "interrupted"])
def test_unfinished_exchanges_are_left_alone(state: str) -> None:
    c = capture(state, [*EVENTS[:4], error_event()], kind=state)
    assert verdict(c).state == state
