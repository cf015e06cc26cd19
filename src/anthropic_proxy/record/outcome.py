"""The exchange's final state, decided off the hot path from what the capture holds.

The hot path only says how its relay ended, from its own sockets: it completed ("success", or
"error" for an upstream status >= 400), a read from the upstream failed ("timeout",
"upstream_broken"), the client went away ("client_closed"), or the proxy answered itself ("error"
or "timeout" with its own error kind). The response rebuilt from the captured bytes refines that,
so the outcome never depends on how fast a client hangs up once the upstream has failed (the
official SDK raises on an `error` event and closes at once):

- an upstream error, an HTTP status >= 400 or an `error` event, is `error` with its error type,
  also when the client left right after it, and also when the upstream then went silent or broke;
- a stream relayed up to its `message_stop` is a success, even if the client left before the
  upstream closed its body;
- a Messages stream that ended cleanly but without `message_stop` (nor an error) was cut short
  by the upstream: `upstream_broken`;
- `client_closed` remains only when the client left while the upstream was answering normally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.record.response import Outcome

READ_FAILED: Final = frozenset({State.TIMEOUT, State.UPSTREAM_BROKEN})
"""The relay ended because a read from the upstream failed; the proxy then ended the stream with
an `error` event of its own (the stream's last), which is not the upstream's."""
CUT_SHORT: Final = "the upstream ended the stream before message_stop"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str
    error_kind: str | None = None
    error_message: str | None = None


def settle(capture: Capture, reply: Outcome, stream: bool) -> Verdict:
    """The final state, error kind and message of a finished exchange."""
    state = capture.state
    kept = Verdict(state, capture.error_kind, capture.error_message)
    if state in (State.PENDING, State.INTERRUPTED) or (state == State.ERROR and capture.error_kind):
        return kept  # no answer yet, or the proxy's own answer (its error body is not upstream's)
    upstream_error = _upstream_error(state, reply)
    if upstream_error is not None:
        return upstream_error
    if state in READ_FAILED:
        return kept
    status = capture.status or 0
    if status >= 400:
        return Verdict(State.ERROR, f"http_{status}", capture.error_message)
    if not stream or capture.kind != "messages":
        return kept
    if reply.stopped:
        return Verdict(State.SUCCESS)  # the whole answer went out; the client may have left after
    if state == State.SUCCESS:
        return Verdict(State.UPSTREAM_BROKEN, "upstream_broken", CUT_SHORT)
    return kept


def _upstream_error(state: str, reply: Outcome) -> Verdict | None:
    """The upstream's own error (status body or first `error` event), if it sent one. After a
    failed read the stream's last error event is the proxy's, so one more is needed."""
    if reply.error is None or reply.errors <= (1 if state in READ_FAILED else 0):
        return None
    kind = reply.error.get("type")
    message = reply.error.get("message")
    return Verdict(
        State.ERROR,
        kind if isinstance(kind, str) and kind else "api_error",
        message if isinstance(message, str) else None,
    )
