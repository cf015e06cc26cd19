"""Who an exchange is for: its project and free tags, read cheaply off each request.

The project is the working directory Claude Code names in its system prompt ("Working directory:
/path" or "Primary working directory: /path" inside `<env>`), unless the client names one with the
`x-proxy-project` header. Tags come from `x-proxy-tags` (comma-separated). Both headers are meant
for Claude Code's ANTHROPIC_CUSTOM_HEADERS and are ours alone: `proxy.headers` never forwards them.
"""

from __future__ import annotations

from typing import Any

PROJECT_HEADER = "x-proxy-project"
TAGS_HEADER = "x-proxy-tags"
OUR_HEADERS = frozenset({PROJECT_HEADER, TAGS_HEADER})
MAX_TAGS = 16
MAX_CHARS = 200
MARKER = "orking directory:"  # "Working directory:" and "Primary working directory:"


def project(headers: dict[str, str], body: Any) -> str | None:
    """The header's project, else the working directory from the system prompt, else None."""
    named = headers.get(PROJECT_HEADER, "").strip()
    if named:
        return named[:MAX_CHARS]
    if not isinstance(body, dict):
        return None
    return working_directory(body.get("system"))


def working_directory(system: Any) -> str | None:
    # rfind, not a regex: system prompts run to tens of KB, and a regex without a literal
    # prefix walked them at 80 us an exchange in the recorder; rfind from the end takes ~1 us.
    texts = [system] if isinstance(system, str) else [
        b.get("text") for b in system if isinstance(b, dict)
    ] if isinstance(system, list) else []  # fmt: skip
    for text in texts:
        if not isinstance(text, str):
            continue
        at = text.rfind(MARKER)  # <env> sits near the end of Claude Code's prompt
        if at >= 0:
            start = at + len(MARKER)
            end = min(
                i for i in (text.find("\n", start), text.find("<", start), len(text)) if i >= 0
            )
            return text[start:end].strip()[:MAX_CHARS] or None
    return None


def tags(headers: dict[str, str]) -> str | None:
    """Sorted, de-duplicated, lower-cased tags joined by commas (None without any): `a,b`."""
    raw = headers.get(TAGS_HEADER)
    if not raw:
        return None
    found = sorted({t.strip().lower()[:64] for t in raw.split(",") if t.strip()})[:MAX_TAGS]
    return ",".join(found) or None
