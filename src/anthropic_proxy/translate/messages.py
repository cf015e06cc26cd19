"""Anthropic `system` and `messages` -> OpenAI chat messages (protocol.md §5.2, E1-E10, E22-E24).

The OpenAI ordering rule drives the shape of this module: every `tool_calls` id must be answered
by a `tool` message right after its assistant message, before any user or system text. So the
answers of a user turn go first, unanswered calls get a placeholder answer, and system notes that
arrived in between wait until the answers are out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import orjson

from anthropic_proxy.translate import reasoning
from anthropic_proxy.translate.mappings import BILLING_HEADER_PREFIX, TOOL_NAME_LIMIT
from anthropic_proxy.wire import JSON, objects

NO_RESULT: Final = "(no result: the tool call was interrupted)"
IMAGE_OMITTED: Final = "[image omitted: the backend model does not accept images]"
EMPTY_RESULT: Final = "(empty)"


@dataclass(slots=True)
class Conversion:
    """What one request conversion needs to know and what it changed."""

    cache_control: bool
    openrouter: bool
    images: bool = True
    """False for text-only models: each image becomes `IMAGE_OMITTED` text (E8)."""
    changes: list[str] = field(default_factory=list)

    def note(self, change: str) -> None:
        if change not in self.changes:
            self.changes.append(change)


def backend_tool_name(name: str) -> str:
    """Names over 64 characters (long MCP names) are cut to 55 + `_` + 8 hex of their hash (E13)."""
    if len(name) <= TOOL_NAME_LIMIT:
        return name
    return f"{name[:55]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def system_messages(system: Any, conv: Conversion) -> list[JSON]:
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else _blocks(system)
    parts: list[JSON] = []
    for block in blocks:
        text = block.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if text.startswith(BILLING_HEADER_PREFIX):
            conv.note("dropped the per-request x-anthropic-billing-header system block")
            continue
        parts.append(_text_part(text, block, conv))
    return [{"role": "system", "content": _collapse(parts)}] if parts else []


def chat_messages(messages: Any, conv: Conversion) -> list[JSON]:
    out: list[JSON] = []
    pending: list[str] = []
    held: list[JSON] = []
    for message in _merged(messages if isinstance(messages, list) else []):
        role, blocks = message["role"], message["blocks"]
        if role == "system":
            note = _user_message([_note_part(blocks)])
            (held if pending else out).append(note)
        elif role == "assistant":
            _settle(out, pending, held)
            pending = _assistant(blocks, out, conv)
        else:
            _user(blocks, pending, out, held, conv)
            pending = []
    _settle(out, pending, held)
    if not any(m["role"] in ("user", "assistant") for m in out):
        conv.note("added a placeholder user message: the request had none")
        out.append({"role": "user", "content": EMPTY_RESULT})
    return _join_users(out)


def _blocks(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _merged(messages: Iterable[Any]) -> list[JSON]:
    """Consecutive turns of one role become one turn, as the Anthropic API itself does (E7)."""
    turns: list[JSON] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role") if message.get("role") in ("assistant", "system") else "user"
        blocks = _blocks(message.get("content"))
        if turns and turns[-1]["role"] == role and role != "system":
            turns[-1]["blocks"] = turns[-1]["blocks"] + blocks
        else:
            turns.append({"role": role, "blocks": blocks})
    return turns


def _settle(out: list[JSON], pending: list[str], held: list[JSON]) -> None:
    """Answer calls left without a result (E3), then release held system notes (E5)."""
    out.extend(_placeholder(i) for i in pending)
    out.extend(held)
    pending.clear()
    held.clear()


def _placeholder(call_id: str) -> JSON:
    return {"role": "tool", "tool_call_id": call_id, "content": NO_RESULT}


def _user(
    blocks: list[JSON], pending: list[str], out: list[JSON], held: list[JSON], conv: Conversion
) -> None:
    parts: list[JSON] = []
    answers: dict[str, JSON] = {}
    for block in blocks:
        kind = block.get("type")
        if (
            kind == "tool_result"
            and block.get("tool_use_id") in pending
            and block["tool_use_id"] not in answers
        ):
            answers[block["tool_use_id"]] = _tool_message(block, parts, conv)
        elif kind == "tool_result":
            conv.note("turned a tool_result without a matching tool_use into user text")
            parts.append(
                {
                    "type": "text",
                    "text": f"[tool result {block.get('tool_use_id')}]\n"
                    + _result_text(block, parts, conv),
                }
            )
        elif kind == "mid_conv_system":
            parts.append(_note_part(_blocks(block.get("content"))))
        else:
            parts.extend(_user_part(block, conv))
    out.extend(answers.get(i) or _placeholder(i) for i in pending)
    _settle(out, [], held)
    if parts:
        out.append(_user_message(parts))


def _tool_message(block: JSON, images: list[JSON], conv: Conversion) -> JSON:
    text = _result_text(block, images, conv) or EMPTY_RESULT
    if block.get("is_error") and not text.lstrip().startswith("<tool_use_error>"):
        text = f"Error: {text}"
    content: Any = text
    if conv.cache_control and block.get("cache_control"):
        content = [{"type": "text", "text": text, "cache_control": block["cache_control"]}]
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": content}


def _result_text(block: JSON, images: list[JSON], conv: Conversion) -> str:
    """The text of a tool_result; its images go to `images`, sent in a user message right after
    the tool messages, so a screenshot never becomes a data URL inside text (E4)."""
    texts: list[str] = []
    for part in _blocks(block.get("content")):
        if part.get("type") == "image" and not conv.images:
            texts.append(_omitted_image(conv))
        elif part.get("type") == "image":
            images.append(_image_part(part))
        elif part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "tool_reference":
            texts.append(f"Tool: {part.get('tool_name', '')}")
        else:
            texts.append(orjson.dumps(part).decode())
    return "\n".join(t for t in texts if t)


def _user_part(block: JSON, conv: Conversion) -> list[JSON]:
    convert = USER_PARTS.get(str(block.get("type")))
    if convert is None:
        conv.note(f"dropped {block.get('type')} blocks")
        return []
    return convert(block, conv)


def _text(block: JSON, conv: Conversion) -> list[JSON]:
    text = block.get("text")
    if not isinstance(text, str) or not text.strip():
        return []
    return [_text_part(text, block, conv)]


def _image(block: JSON, conv: Conversion) -> list[JSON]:
    if not conv.images:
        return [{"type": "text", "text": _omitted_image(conv)}]
    return [_image_part(block)]


def _omitted_image(conv: Conversion) -> str:
    conv.note("replaced images with text: the backend model does not accept images")
    return IMAGE_OMITTED


def _image_part(block: JSON) -> JSON:
    source = block.get("source") or {}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": source.get("url", "")}}
    url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: JSON, conv: Conversion) -> list[JSON]:
    source = block.get("source") or {}
    title = block.get("title") or "document.pdf"
    kind = source.get("type")
    if kind == "text":
        return [
            {
                "type": "text",
                "text": f"{block.get('title') or 'Document'}\n\n{source.get('data', '')}",
            }
        ]
    if kind == "content":
        return [p for inner in _blocks(source.get("content")) for p in _user_part(inner, conv)]
    media = source.get("media_type", "application/pdf")
    data = (
        source.get("url", "") if kind == "url" else f"data:{media};base64,{source.get('data', '')}"
    )
    return [{"type": "file", "file": {"filename": title, "file_data": data}}]


def _search_result(block: JSON, conv: Conversion) -> list[JSON]:
    texts = [str(p.get("text", "")) for p in _blocks(block.get("content"))]
    header = f"{block.get('title', '')} ({block.get('source', '')})"
    return [{"type": "text", "text": "\n".join([header, *texts])}]


def _tool_reference(block: JSON, conv: Conversion) -> list[JSON]:
    return [{"type": "text", "text": f"Tool: {block.get('tool_name', '')}"}]


USER_PARTS: Final[MappingProxyType[str, Callable[[JSON, Conversion], list[JSON]]]] = (
    MappingProxyType(
        {
            "text": _text,
            "image": _image,
            "document": _document,
            "search_result": _search_result,
            "tool_reference": _tool_reference,
        }
    )
)


def _text_part(text: str, block: JSON, conv: Conversion) -> JSON:
    part: JSON = {"type": "text", "text": text}
    if conv.cache_control and block.get("cache_control"):
        part["cache_control"] = block["cache_control"]
    return part


def _note_part(blocks: list[JSON]) -> JSON:
    """A mid-conversation system instruction, as user text shaped like Claude Code's reminders."""
    text = "\n\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    return {"type": "text", "text": f"<system-reminder>\n{text}\n</system-reminder>"}


def _user_message(parts: list[JSON]) -> JSON:
    return {"role": "user", "content": parts}


def _collapse(parts: list[JSON]) -> Any:
    """A plain string unless some part must stay a part (cache_control, images, files)."""
    if all(p.get("type") == "text" and "cache_control" not in p for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _join_users(messages: list[JSON]) -> list[JSON]:
    out: list[JSON] = []
    for message in messages:
        if (
            message["role"] == "user"
            and out
            and out[-1]["role"] == "user"
            and isinstance(out[-1]["content"], list)
        ):
            out[-1]["content"] = out[-1]["content"] + _as_parts(message["content"])
        else:
            out.append(message)
    for message in out:
        if message["role"] == "user" and isinstance(message["content"], list):
            message["content"] = _collapse(message["content"])
    return out


def _as_parts(content: Any) -> list[JSON]:
    return content if isinstance(content, list) else [{"type": "text", "text": str(content)}]


def _assistant(blocks: list[JSON], out: list[JSON], conv: Conversion) -> list[str]:
    """Append the assistant message; return the tool-call ids now awaiting answers."""
    parts: list[JSON] = []
    calls: list[JSON] = []
    details: list[JSON] = []
    for block in blocks:
        _assistant_block(block, parts, calls, details, conv)
    if not parts and not calls:
        conv.note("omitted an assistant turn left empty after dropping its blocks")
        return []
    message: JSON = {"role": "assistant", "content": _collapse(parts) if parts else None}
    if calls:
        message["tool_calls"] = calls
    if details and conv.openrouter:
        message["reasoning_details"] = details
    out.append(message)
    return [c["id"] for c in calls]


def _assistant_block(
    block: JSON, parts: list[JSON], calls: list[JSON], details: list[JSON], conv: Conversion
) -> None:
    kind = block.get("type")
    if kind == "text":
        parts.extend(_text(block, conv))
    elif kind in ("tool_use", "server_tool_use") and block.get("name") != "web_search":
        calls.append(_tool_call(block))
    elif kind in ("thinking", "redacted_thinking"):
        _thinking(block, details, conv)
    elif kind in ("server_tool_use", "web_search_tool_result"):
        parts.append({"type": "text", "text": _flattened_search(block)})
    else:
        conv.note(f"dropped assistant {kind} blocks")


def _tool_call(block: JSON) -> JSON:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    function = {"name": backend_tool_name(str(block.get("name", ""))), "arguments": arguments}
    return {"id": str(block.get("id", "")), "type": "function", "function": function}


def _thinking(block: JSON, details: list[JSON], conv: Conversion) -> None:
    unpacked = reasoning.unpack(
        block.get("signature") if block["type"] == "thinking" else block.get("data")
    )
    if unpacked is None:
        conv.note("dropped thinking blocks signed by another backend")
    elif unpacked:
        details.extend(unpacked)
    elif block.get("thinking"):
        details.append({"type": "reasoning.text", "text": block["thinking"], "index": len(details)})


def _flattened_search(block: JSON) -> str:
    if block.get("type") == "server_tool_use":
        return f"Searched the web for: {(block.get('input') or {}).get('query', '')}"
    results = objects(block.get("content"))
    lines = [f"- {r.get('title', '')} — {r.get('url', '')}" for r in results]
    return "Search results:\n" + "\n".join(lines)
