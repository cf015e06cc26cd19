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
SYSTEM_MESSAGES_WITHIN = 8
"""Claude Code sends its environment message right after the first user message."""
MARKER = "orking directory:"  # "Working directory:" and "Primary working directory:"


def project(headers: dict[str, str], body: Any) -> str | None:
    """The header's project, else the working directory Claude Code names, else None: in the
    system prompt (older versions) or in a `role: system` message near the start of `messages`
    ("# Environment ... - Primary working directory: /path", 2.1.3xx)."""
    named = headers.get(PROJECT_HEADER, "").strip()
    if named:
        return named[:MAX_CHARS]
    if not isinstance(body, dict):
        return None
    # The few first messages before the system prompt: when the environment is a message,
    # the prompt (tens of KB) holds no marker and searching it first would read all of it.
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages[:SYSTEM_MESSAGES_WITHIN]:
            if isinstance(message, dict) and message.get("role") == "system":
                found = working_directory(message.get("content"))
                if found is not None:
                    return found
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
        at = text.rfind(MARKER)  # the environment sits near the end of a prompt
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
