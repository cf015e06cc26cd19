"""A usage report as a terminal table: one line per row, models under it with `--by model`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

HEADINGS = {
    "daily": "Date",
    "weekly": "Week of",
    "monthly": "Month",
    "blocks": "Block (5 h)",
    "session": "Session",
    "project": "Project",
    "tag": "Tag",
}
NUMBERS = (
    ("requests", "Requests"),
    ("input_tokens", "Input"),
    ("output_tokens", "Output"),
    ("cache_creation_tokens", "Cache write"),
    ("cache_read_tokens", "Cache read"),
    ("total_tokens", "Total tokens"),
    ("cost_usd", "Cost (USD)"),
)
KEY_WIDTH = 38


def render(data: dict[str, Any]) -> str:
    reported = any(r["reported_cost_usd"] for r in data["rows"])
    numbers = list(NUMBERS)
    if reported:
        numbers += [("calculated_cost_usd", "genai-prices"), ("reported_cost_usd", "Upstream")]
    head = [HEADINGS[data["report"]], "Models", *(title for _, title in numbers)]
    lines = [[_key(data["report"], r), ", ".join(_short(m) for m in r["models"]),
              *(_fmt(c, r[c]) for c, _ in numbers)] for r in data["rows"]]  # fmt: skip
    body: list[tuple[list[str], bool]] = []
    for row, cells in zip(data["rows"], lines, strict=True):
        body.append((cells, False))
        for m in row.get("by_model", []):
            body.append(
                (
                    [f"  └ {_short(m['model'] or '?')}", "", *(_fmt(c, m[c]) for c, _ in numbers)],
                    True,
                )
            )
    total = data["totals"]
    foot = ["Total", "", *(_fmt(c, total[c]) for c, _ in numbers)]
    widths = [max(len(x[i]) for x in [head, foot, *(c for c, _ in body)]) for i in range(len(head))]
    widths[1] = min(widths[1], 40)

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0]), _clip(cells[1], widths[1]).ljust(widths[1])]
        parts += [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(head))
    out = [line(head), rule, *(line(c) for c, _ in body), rule, line(foot)]
    if not data["rows"]:
        out.insert(2, "(no exchanges in this range)")
    return "\n".join(out)


def _key(kind: str, row: dict[str, Any]) -> str:
    key = row["key"]
    if key is None:
        return "(none)"
    text = str(key)
    if kind == "blocks" and row.get("active"):
        text += f" (active, {_duration(row.get('remaining_s') or 0)} left)"
    if kind == "session":
        text = text[:36]
        if row.get("project"):
            text += f"  {row['project']}"
    if len(text) > KEY_WIDTH + 24:
        text = "…" + text[-(KEY_WIDTH + 23) :]
    return text


def _short(model: str) -> str:
    return model.removeprefix("claude-")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(column: str, value: Any) -> str:
    if column.endswith("cost_usd"):
        return f"${value:,.2f}" if value >= 0.01 or not value else f"${value:.4f}"
    return f"{int(value):,}"


def _duration(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    return f"{minutes // 60}h{minutes % 60:02d}m"


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""
