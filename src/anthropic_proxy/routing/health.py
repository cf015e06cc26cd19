"""What the proxy has learned about its upstreams: a circuit breaker per target, benched keys.

A target that fails `threshold` times in a row is skipped for a cool-down that doubles on each
further failure (capped), and closes on the first success. `retry-after` opens it at least that
long. A key that got a 429 is benched for its retry-after (default a minute); a key whose
subscription quota is spent is benched until the reset time the upstream announced.

In memory only, per process (a restart forgets: the upstream will say again). No I/O; the
clock is injected (epoch seconds, since quota resets are epoch times).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from anthropic_proxy.masking import mask_value

DEFAULT_BENCH_S: Final = 60.0


@dataclass(slots=True)
class Circuit:
    failures: int = 0
    """Consecutive failures."""
    open_until: float = 0.0
    cooldown_s: float = 0.0
    last_error: str | None = None
    last_failure_at: float | None = None
    attempts: int = 0
    served: int = 0


@dataclass(slots=True)
class Bench:
    until: float
    reason: str


class Health:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        threshold: int = 3,
        cooldown_s: float = 30.0,
        max_cooldown_s: float = 600.0,
    ) -> None:
        self.clock = clock
        self.threshold, self.cooldown_s, self.max_cooldown_s = threshold, cooldown_s, max_cooldown_s
        self.circuits: dict[str, Circuit] = {}
        self.benched: dict[tuple[str, str], Bench] = {}
        self.unsettled = 0
        """Circuits with an open_until set (open or on trial): while 0 and nothing is benched,
        every target is usable and a plan depends on nothing learned (it may be cached)."""

    def target_open(self, label: str, now: float | None = None) -> bool:
        circuit = self.circuits.get(label)
        return circuit is not None and circuit.open_until > (self.clock() if now is None else now)

    def open_until(self, label: str) -> float:
        circuit = self.circuits.get(label)
        return circuit.open_until if circuit else 0.0

    def succeeded(self, label: str) -> None:
        circuit = self._circuit(label)
        circuit.attempts += 1
        circuit.served += 1
        if circuit.open_until:
            self.unsettled -= 1
        circuit.failures, circuit.cooldown_s, circuit.open_until = 0, 0.0, 0.0

    def failed(self, label: str, error: str, retry_after_s: float | None = None) -> None:
        now = self.clock()
        circuit = self._circuit(label)
        was_open = bool(circuit.open_until)
        circuit.attempts += 1
        circuit.failures += 1
        circuit.last_error, circuit.last_failure_at = error, now
        if circuit.failures >= self.threshold:
            circuit.cooldown_s = min(
                self.max_cooldown_s,
                circuit.cooldown_s * 2 if circuit.cooldown_s else self.cooldown_s,
            )
            circuit.open_until = max(circuit.open_until, now + circuit.cooldown_s)
        if retry_after_s:
            circuit.open_until = max(circuit.open_until, now + retry_after_s)
        if circuit.open_until and not was_open:
            self.unsettled += 1

    @property
    def quiet(self) -> bool:
        """Nothing open, on trial or benched: every step of every chain is usable."""
        if self.benched:
            now = self.clock()
            for key in [k for k, b in self.benched.items() if b.until <= now]:
                del self.benched[key]
        return not self.unsettled and not self.benched

    def key_benched(self, provider: str, key: str, now: float | None = None) -> bool:
        if not self.benched:  # the common case: nothing benched, no lookup
            return False
        bench = self.benched.get((provider, key))
        return bench is not None and bench.until > (self.clock() if now is None else now)

    def bench_key(self, provider: str, key: str, until: float, reason: str) -> None:
        current = self.benched.get((provider, key))
        if current is None or current.until < until:
            self.benched[(provider, key)] = Bench(until, reason)

    def key_free_at(self, provider: str, key: str) -> float:
        bench = self.benched.get((provider, key))
        return bench.until if bench else 0.0

    def snapshot(self) -> dict[str, Any]:
        """For /config and /api/config/health: every target and benched key (keys masked)."""
        now = self.clock()
        targets = {
            label: {
                "state": "open"
                if c.open_until > now
                else "half_open"
                if c.failures >= self.threshold
                else "closed",
                "openForS": round(max(0.0, c.open_until - now), 1),
                "consecutiveFailures": c.failures,
                "lastError": c.last_error,
                "attempts": c.attempts,
                "served": c.served,
            }
            for label, c in self.circuits.items()
        }
        keys = [
            {
                "provider": p,
                "key": mask_value(k),
                "reason": b.reason,
                "backInS": round(b.until - now, 1),
            }
            for (p, k), b in self.benched.items()
            if b.until > now
        ]
        return {"targets": targets, "benchedKeys": keys}

    def _circuit(self, label: str) -> Circuit:
        circuit = self.circuits.get(label)
        if circuit is None:
            circuit = self.circuits[label] = Circuit()
        return circuit
