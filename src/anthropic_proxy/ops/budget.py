"""Cost budgets: daily and monthly, for the whole proxy and per Claude Code session.

Spend is summed from the stored `cost_usd`, so with several instances on one PostgreSQL every
instance sees the fleet's spend. Periods are UTC days and months, the same for every instance.

`GET /api/monitor/budget` shows each budget's period, limit, spend and remaining amount (with
`?session=ID`, that session's too). When a budget is crossed a JSON webhook is POSTed once per
budget and period: the alert is claimed by inserting its key into `alerts_sent`, so among
several instances only the one whose insert wins sends it; a failed POST releases the claim so
a later check retries. Checks run on the event loop after recorded batches (at most once per
`CHECK_EVERY_S`), never on the proxy's hot path. Each crossing is also logged once per process
as a warning (with or without a webhook), and `/monitor` shows progress and a banner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from anthropic_proxy import tasks
from anthropic_proxy.settings import Settings
from anthropic_proxy.storage import Row, Store

log = logging.getLogger("anthropic_proxy.budget")
CHECK_EVERY_S = 1.0
PERIODS = ("daily", "monthly")
SESSION_TOP = 10


@dataclass(frozen=True)
class Limits:
    proxy: dict[str, float]
    session: dict[str, float]

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        proxy = {"daily": s.budget_daily_usd, "monthly": s.budget_monthly_usd}
        session = {"daily": s.session_budget_daily_usd, "monthly": s.session_budget_monthly_usd}
        return cls(
            {k: v for k, v in proxy.items() if v > 0}, {k: v for k, v in session.items() if v > 0}
        )

    @property
    def any(self) -> bool:
        return bool(self.proxy or self.session)


def period_bounds(period: str, now: float) -> tuple[float, float, str]:
    """(start, end, label) of the UTC day or month containing `now`."""
    at = datetime.fromtimestamp(now, UTC)
    if period == "daily":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start.timestamp() + 86400
        return start.timestamp(), end, start.strftime("%Y-%m-%d")
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.timestamp(), following.timestamp(), start.strftime("%Y-%m")


def _spent(store: Store, since: float, session: str | None = None) -> float:
    sql = "SELECT SUM(cost_usd) AS spent FROM exchanges WHERE started_at >= ?"
    params: list[Any] = [since]
    if session is not None:
        sql += " AND session_id = ?"
        params.append(session)
    return round(float(store.fetch(sql, params)[0]["spent"] or 0), 6)


def _line(
    limit: float | None, spent: float, start: float, end: float, label: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"period": label, "start": start, "end": end, "spentUsd": spent}
    if limit:
        out.update(
            limitUsd=limit,
            remainingUsd=round(max(0.0, limit - spent), 6),
            percent=round(100 * spent / limit, 2),
            exceeded=spent >= limit,
        )
    return out


def report(store: Store, limits: Limits, session: str | None, now: float) -> dict[str, Any]:
    """The budget API's body: proxy budgets, the top sessions, and one session if asked."""
    out: dict[str, Any] = {"proxy": {}, "sessions": {}, "session": None}
    for period in PERIODS:
        start, end, label = period_bounds(period, now)
        out["proxy"][period] = _line(
            limits.proxy.get(period), _spent(store, start), start, end, label
        )
        out["sessions"][period] = {
            "limitUsd": limits.session.get(period),
            "top": _top_sessions(store, start, limits.session.get(period)),
        }
    if session:
        out["session"] = {"id": session}
        for period in PERIODS:
            start, end, label = period_bounds(period, now)
            spent = _spent(store, start, session)
            out["session"][period] = _line(limits.session.get(period), spent, start, end, label)
    return out


def _top_sessions(store: Store, since: float, limit: float | None) -> list[dict[str, Any]]:
    rows = store.fetch(
        "SELECT session_id, SUM(cost_usd) AS spent FROM exchanges WHERE started_at >= ? "
        "AND session_id IS NOT NULL GROUP BY session_id ORDER BY spent DESC, session_id LIMIT ?",
        [since, SESSION_TOP],
    )
    return [
        {
            "id": r["session_id"],
            "spentUsd": round(float(r["spent"] or 0), 6),
            "exceeded": bool(limit) and float(r["spent"] or 0) >= (limit or 0),
        }
        for r in rows
    ]


def crossed(store: Store, limits: Limits, now: float) -> list[dict[str, Any]]:
    """Every budget over its limit in the current period, as alert payloads (with `key`)."""
    alerts: list[dict[str, Any]] = []
    for period, limit in limits.proxy.items():
        start, end, label = period_bounds(period, now)
        spent = _spent(store, start)
        if spent >= limit:
            alerts.append(_alert("proxy", None, period, label, limit, spent, start, end))
    for period, limit in limits.session.items():
        start, end, label = period_bounds(period, now)
        over = store.fetch(
            "SELECT session_id, SUM(cost_usd) AS spent FROM exchanges WHERE started_at >= ? "
            "AND session_id IS NOT NULL GROUP BY session_id HAVING SUM(cost_usd) >= ?",
            [start, limit],
        )
        for r in over:
            spent = round(float(r["spent"]), 6)
            alerts.append(
                _alert("session", r["session_id"], period, label, limit, spent, start, end)
            )
    return alerts


def _alert(
    scope: str,
    session: str | None,
    period: str,
    label: str,
    limit: float,
    spent: float,
    start: float,
    end: float,
) -> dict[str, Any]:
    key = f"budget:{scope}:{session or '-'}:{period}:{label}"
    return {
        "event": "budget.exceeded",
        "key": key,
        "scope": scope,
        "sessionId": session,
        "period": period,
        "periodLabel": label,
        "periodStart": start,
        "periodEnd": end,
        "limitUsd": limit,
        "spentUsd": spent,
    }


def claim(store: Store, key: str, now: float) -> bool:
    """True for exactly one caller per key, across instances sharing the store."""
    sql = "INSERT INTO alerts_sent (key, sent_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
    return store.execute(sql, [key, now]) == 1


def release(store: Store, key: str) -> None:
    store.execute("DELETE FROM alerts_sent WHERE key = ?", [key])


class BudgetWatch:
    """Recorder listener + background checker + `GET /api/monitor/budget` handler."""

    def __init__(self, store: Store, settings: Settings, instance: str = "") -> None:
        self.store = store
        self.limits = Limits.from_settings(settings)
        self.webhook_url = settings.budget_webhook_url
        self.instance = instance or f"{settings.host}:{settings.port}"
        self.sent: list[dict[str, Any]] = []
        self.warned: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.limits.any:
            if self.webhook_url:
                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._task = tasks.spawn(self._run(), "budget-watch")
            self._due.set()  # a restart mid-period checks at once

    async def stop(self) -> None:
        self._loop = None
        await tasks.cancel(self._task)
        if self._http is not None:
            await self._http.close()

    def on_rows(self, rows: Sequence[Row]) -> None:
        """Recorder listener (writer thread): a costed exchange finished, check soon."""
        loop = self._loop
        if loop is None or not any(r.get("cost_usd") for r in rows):
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._due.set)

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self.check()
            except Exception:
                log.exception("budget check failed")
            await asyncio.sleep(CHECK_EVERY_S)

    async def check(self, now: float | None = None) -> list[dict[str, Any]]:
        """Send the alerts not yet sent for this period; returns those sent."""
        now = time.time() if now is None else now
        alerts = await asyncio.to_thread(crossed, self.store, self.limits, now)
        sent = []
        for alert in alerts:
            self._warn(alert)
            if self._http is None:
                continue
            if await asyncio.to_thread(claim, self.store, alert["key"], now):
                if await self._post({**alert, "instance": self.instance, "at": now}):
                    sent.append(alert)
                else:
                    await asyncio.to_thread(release, self.store, alert["key"])
        self.sent.extend(sent)
        return sent

    def _warn(self, alert: dict[str, Any]) -> None:
        if alert["key"] in self.warned:
            return
        self.warned.add(alert["key"])
        who = f"session {alert['sessionId']}" if alert["sessionId"] else "proxy"
        log.warning(
            "budget crossed: %s %s budget $%.2f for %s, spent $%.2f",
            who,
            alert["period"],
            alert["limitUsd"],
            alert["periodLabel"],
            alert["spentUsd"],
        )

    async def _post(self, payload: dict[str, Any]) -> bool:
        if self._http is None:
            return False
        try:
            async with self._http.post(self.webhook_url, json=payload) as response:
                if response.status < 300:
                    return True
                log.warning("budget webhook answered %d", response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("budget webhook failed: %s", exc)
        return False

    async def handle(self, request: web.Request) -> web.Response:
        """GET /api/monitor/budget[?session=ID]"""
        session = request.query.get("session") or None
        body = await asyncio.to_thread(report, self.store, self.limits, session, time.time())
        body["webhookConfigured"] = bool(self.webhook_url)
        return web.json_response(body)
