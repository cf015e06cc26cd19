"""How much of a JSON object arriving in pieces may be passed on, so it always ends valid.

A streamed tool input cannot be taken back, so only "safe" prefixes are sent: ones that become a
valid object by appending closers alone (an open value string's `"` and the open brackets). A key,
a `:` or `,`, a half number, a half `true` or a half escape is held until what follows makes it
safe. If the model's arguments turn invalid, nothing more is sent, and the safe prefix plus its
closers is still a valid object (the part before the mistake). One pass over the text: string
contents are skipped with a regular expression, so a long file body costs little.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

STRING_STOP: Final = re.compile(r'["\\\x00-\x1f]')
NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
NUMBER_CHARS: Final = frozenset("-+.eE0123456789")
LITERALS: Final = ("true", "false", "null")
ESCAPES: Final = frozenset('"\\/bfnrt')
HEX: Final = frozenset("0123456789abcdefABCDEF")
WHITESPACE: Final = frozenset(" \t\r\n")


@dataclass(slots=True)
class JsonPrefix:
    """Feed the text piece by piece; `safe` is how much of it may be sent, `closer()` completes it."""

    state: str = "start"
    stack: list[str] = field(default_factory=list)
    token: str = ""
    escape: int = 0  # 0 none, 1 after a backslash, 2-5 inside \\uXXXX
    length: int = 0
    safe: int = 0
    safe_closer: str = ""
    broken: bool = False

    @property
    def complete(self) -> bool:
        return self.state == "end"

    def closer(self) -> str:
        return self.safe_closer

    def feed(self, piece: str) -> int:
        """Read `piece` (the text's next part); returns the new `safe`."""
        i, n = 0, len(piece)
        while i < n and not self.broken:
            i = self._step(piece, i)
        self.length += n
        return self.safe

    def _mark(self, at: int) -> None:
        self.safe = self.length + at
        closers = "".join("}" if c == "{" else "]" for c in reversed(self.stack))
        self.safe_closer = ('"' if self.state == "str" else "") + closers

    def _step(self, piece: str, i: int) -> int:
        if self.escape:
            return self._escaped(piece, i)
        if self.state in ("str", "key"):
            return self._string(piece, i)
        ch = piece[i]
        if self.state == "number" and ch in NUMBER_CHARS:
            return self._number(ch, i)
        if self.state == "number":
            self._end_number()
            return i  # the same character, read again after the value
        if self.state == "literal":
            return self._literal(ch, i)
        if ch in WHITESPACE:
            return i + 1
        handler = getattr(self, "_" + self.state)
        handler(ch, i)
        return i + 1

    def _string(self, piece: str, i: int) -> int:
        found = STRING_STOP.search(piece, i)
        if found is None:
            if self.state == "str":
                self._mark(len(piece))
            return len(piece)
        j, ch = found.start(), found.group()
        if self.state == "str" and j > i:
            self._mark(j)
        if ch == "\\":
            self.escape = 1
        elif ch == '"':
            self.state = "colon" if self.state == "key" else "after_value"
            if self.state == "after_value":
                self._mark(j + 1)
        else:
            self.broken = True  # a raw control character inside a string
        return j + 1

    def _escaped(self, piece: str, i: int) -> int:
        ch = piece[i]
        if self.escape == 1 and ch in ESCAPES:
            self.escape = 0
        elif self.escape == 1 and ch == "u":
            self.escape = 2
        elif self.escape >= 2 and ch in HEX:
            self.escape = 0 if self.escape == 5 else self.escape + 1
        else:
            self.broken = True
        if not self.escape and self.state == "str":
            self._mark(i + 1)
        return i + 1

    def _number(self, ch: str, i: int) -> int:
        self.token += ch
        if NUMBER.fullmatch(self.token):
            self._mark(i + 1)
        return i + 1

    def _end_number(self) -> None:
        if NUMBER.fullmatch(self.token):
            self.state, self.token = "after_value", ""
        else:
            self.broken = True

    def _literal(self, ch: str, i: int) -> int:
        self.token += ch
        if self.token in LITERALS:
            self.state, self.token = "after_value", ""
            self._mark(i + 1)
        elif not any(word.startswith(self.token) for word in LITERALS):
            self.broken = True
        return i + 1

    def _start(self, ch: str, i: int) -> None:
        if ch == "{":
            self._open(ch, i)
        else:
            self._fail()

    def _open(self, ch: str, i: int) -> None:
        self.stack.append(ch)
        self.state = "key_or_end" if ch == "{" else "value_or_end"
        self._mark(i + 1)

    def _close(self, ch: str, i: int) -> None:
        if not self.stack or self.stack[-1] != ("{" if ch == "}" else "["):
            self._fail()
            return
        self.stack.pop()
        self.state = "after_value" if self.stack else "end"
        self._mark(i + 1)

    def _key_or_end(self, ch: str, i: int) -> None:
        if ch == "}":
            self._close(ch, i)
        else:
            self._next_key(ch, i)

    def _next_key(self, ch: str, i: int) -> None:
        if ch == '"':
            self.state = "key"
        else:
            self._fail()

    def _colon(self, ch: str, i: int) -> None:
        if ch == ":":
            self.state = "value"
        else:
            self._fail()

    def _value_or_end(self, ch: str, i: int) -> None:
        if ch == "]":
            self._close(ch, i)
        else:
            self._value(ch, i)

    def _value(self, ch: str, i: int) -> None:
        if ch == '"':
            self.state = "str"
            self._mark(i + 1)
        elif ch in "{[":
            self._open(ch, i)
        elif ch == "-" or ch.isdigit():
            self.state, self.token = "number", ""
            self._number(ch, i)
        elif ch in "tfn":
            self.state, self.token = "literal", ch
        else:
            self._fail()

    def _after_value(self, ch: str, i: int) -> None:
        if ch == ",":
            self.state = "next_key" if self.stack[-1] == "{" else "value"
        elif ch in "}]":
            self._close(ch, i)
        else:
            self._fail()

    def _end(self, ch: str, i: int) -> None:
        self._fail()  # text after the object: ignored, the object is whole

    def _fail(self) -> None:
        self.broken = True
