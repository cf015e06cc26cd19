"""Tool-call fragments from a chat-completions stream, streamed on or assembled (protocol.md E14-E16).

A backend sends each call's arguments as string fragments. When calls come one after another (the
usual case) each call's fragments are passed on as `input_json_delta`s as they arrive, so a client
sees a long tool input (a file being written) grow. A call streams once its arguments start with
`{` (a JSON object on its way) and every earlier call is finished; it is finished when the next
call starts with its own arguments complete, when text follows, or at the end of the stream,
where whatever a cut-off left open is closed by appending (E19). Only prefixes that stay valid
when closed are sent (partial_json.py), so the streamed input always parses.

Everything else is assembled and emitted whole at the end, in call order: calls whose fragments
interleave (parallel calls, E16), arguments that are not a streamed object (a JSON document sent
as a string, whole dicts, E14), and calls after an interleaving was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from anthropic_proxy.translate.arguments import parse_arguments
from anthropic_proxy.translate.partial_json import JsonPrefix
from anthropic_proxy.wire import JSON, obj


@dataclass(slots=True)
class Call:
    id: str = ""
    name: str = ""
    arguments: str = ""
    sent: int = 0
    """How much of `arguments` has been streamed."""
    json: JsonPrefix | None = None
    """Set when the call streams: how much of its arguments is safe to send."""
    done: bool = False
    diverged: bool = False
    """The backend rewrote arguments already streamed (a whole dict after fragments)."""


@dataclass(slots=True)
class Calls:
    """The calls of one stream, by upstream key, in the order they started."""

    by_key: dict[object, Call] = field(default_factory=dict)
    open_key: object = None
    """The call whose tool_use block is open and streaming, if any."""
    assembling: bool = False
    """Set for good once two calls were seen in progress at once (interleaved)."""

    def add(self, fragment: JSON) -> tuple[object, Call]:
        """Merge one fragment into its call; returns the call (new fragments are in `arguments`)."""
        key = _key(self.by_key, fragment)
        call = self.by_key.setdefault(key, Call())
        function = obj(fragment.get("function"))
        call.id = call.id or str(fragment.get("id") or "")
        call.name = call.name or str(function.get("name") or "")
        arguments = function.get("arguments")
        before = call.arguments
        if isinstance(arguments, dict):
            call.arguments = orjson.dumps(arguments).decode()
        elif isinstance(arguments, str):
            call.arguments = _extend(call.arguments, arguments)
        call.diverged = call.diverged or not call.arguments.startswith(before)
        return key, call

    def may_stream(self, key: object, call: Call) -> bool:
        """Whether `call` may open its block now: nothing interleaved, every earlier call
        finished, and its arguments begin a JSON object."""
        if self.assembling or call.done or self.open_key is not None:
            return False
        earlier = [c for k, c in self.by_key.items() if k != key]
        return all(c.done for c in earlier) and call.arguments.lstrip().startswith("{")

    def number(self, key: object) -> int:
        return list(self.by_key).index(key)

    def waiting(self) -> list[tuple[int, Call]]:
        """The calls still to be emitted whole at the end, numbered in call order."""
        return [(n, c) for n, c in enumerate(self.by_key.values()) if not c.done]

    def all(self) -> list[Call]:
        return list(self.by_key.values())


def advance(call: Call) -> str:
    """Read what arrived since; the text that became safe to send (see partial_json.py). A
    backend that rewrote what was already sent (a whole dict after fragments) is not followed."""
    if call.json is None or call.diverged:
        return ""
    call.json.feed(call.arguments[call.json.length :])
    piece = call.arguments[call.sent : call.json.safe]
    call.sent = max(call.sent, call.json.safe)
    return piece


def finish(call: Call) -> str:
    """The last text of a streamed call: what is safe, then the closers that make it whole."""
    call.done = True
    return advance(call) + (call.json.closer() if call.json is not None else "")


def whole_input(call: Call) -> str:
    """An assembled call's arguments as the object the model meant (E14, E15)."""
    return orjson.dumps(parse_arguments(call.arguments)).decode()


def _key(calls: dict[object, Call], fragment: JSON) -> object:
    """The upstream `index`; without one, the id, else a new name starts a new call."""
    if isinstance(fragment.get("index"), int):
        return fragment["index"]
    call_id = fragment.get("id")
    found = next((k for k, c in calls.items() if call_id and c.id == call_id), None)
    if found is not None:
        return found
    named = bool(obj(fragment.get("function")).get("name"))
    if call_id or named or not calls:
        return f"call-{len(calls)}"
    return next(reversed(calls))


def _extend(buffer: str, fragment: str) -> str:
    """Concatenate, unless the provider resends all the arguments so far (cumulative snapshots)."""
    if len(buffer) > 1 and fragment.startswith(buffer):
        return fragment
    return buffer + fragment
