"""Compression of what is stored once per exchange: headers, response, timeline.

These are small (one to three KB) and alike from one exchange to the next: the same header names,
the same JSON keys, the same SSE event names. A compressor finds little to share inside one small
record, so each is compressed against a preset dictionary of that common text: about a third of
the plain size. Records are zstd frames behind one byte that names their dictionary (ZSTD + its
index); rows written before are zlib streams (first byte 0x78) that name their dictionary by
checksum (zlib's DICTID), or plain zlib. `unpack` reads them all.

Append a new dictionary to DICTIONARIES, never edit one: stored rows name it.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import zstandard

_REQUEST_HEADERS = (
    '"host":"127.0.0.1:8082","accept":"application/json","anthropic-beta":"claude-code-20250219,'
    "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,context-management-"
    '2025-06-27","anthropic-dangerous-direct-browser-access":"true","anthropic-version":'
    '"2023-06-01","content-type":"application/json","user-agent":"claude-cli/2.1.329 (external,'
    ' cli)","x-api-key":"sk-ant-api...","authorization":"Bearer sk-ant-oat...","x-app":"cli",'
    '"x-stainless-arch":"x64","x-stainless-lang":"js","x-stainless-os":"Linux",'
    '"x-stainless-package-version":"0.60.0","x-stainless-retry-count":"0",'
    '"x-stainless-runtime":"node","x-stainless-runtime-version":"v20.20.2",'
    '"x-stainless-timeout":"600","accept-encoding":"gzip, deflate, br, zstd",'
    '"x-claude-code-session-id":"","x-claude-code-agent-id":"","connection":"keep-alive",'
    '"content-length":"'
)
_RESPONSE_HEADERS = (
    '"date":"Sat, 05 Dec 2026 12:00:00 GMT","content-type":"text/event-stream; charset=utf-8",'
    '"transfer-encoding":"chunked","connection":"keep-alive","cache-control":"no-cache",'
    '"anthropic-ratelimit-unified-status":"allowed","anthropic-ratelimit-unified-5h-status":'
    '"allowed","anthropic-ratelimit-unified-5h-reset":"17","anthropic-ratelimit-unified-5h-'
    'utilization":"0.","anthropic-ratelimit-unified-7d-status":"allowed","anthropic-ratelimit-'
    'unified-7d-reset":"17","anthropic-ratelimit-unified-7d-utilization":"0.",'
    '"anthropic-ratelimit-unified-representative-claim":"five_hour",'
    '"anthropic-ratelimit-unified-fallback-percentage":"0.5","anthropic-ratelimit-unified-reset":'
    '"17","anthropic-ratelimit-requests-limit":"4000","anthropic-ratelimit-requests-remaining":'
    '"3999","anthropic-ratelimit-requests-reset":"2026-12-05T12:00:00Z",'
    '"anthropic-ratelimit-input-tokens-limit":"2000000","anthropic-ratelimit-input-tokens-'
    'remaining":"2000000","anthropic-ratelimit-input-tokens-reset":"2026-12-05T12:00:00Z",'
    '"anthropic-ratelimit-output-tokens-limit":"400000","anthropic-ratelimit-output-tokens-'
    'remaining":"400000","anthropic-ratelimit-output-tokens-reset":"2026-12-05T12:00:00Z",'
    '"anthropic-ratelimit-tokens-limit":"2400000","anthropic-ratelimit-tokens-remaining":'
    '"2400000","anthropic-ratelimit-tokens-reset":"2026-12-05T12:00:00Z","request-id":"req_011CV",'
    '"strict-transport-security":"max-age=31536000; includeSubDomains; preload",'
    '"anthropic-organization-id":"","via":"1.1 google","cf-cache-status":"DYNAMIC",'
    '"x-robots-tag":"none","server":"cloudflare","cf-ray":"-AMS","x-envoy-upstream-service-time":'
)
_TIMELINE = (
    '"message_start",["content_block_start:text",["content_block_start:thinking",'
    '["content_block_start:tool_use",["content_block_delta:text_delta",'
    '["content_block_delta:thinking_delta",["content_block_delta:signature_delta",'
    '["content_block_delta:input_json_delta",["content_block_stop",["message_delta",'
    '["message_stop",["ping",["error",'
)
_MESSAGE = (
    '{"response":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-'
    '20250929","content":[{"type":"thinking","thinking":"","signature":""},{"type":"tool_use",'
    '"id":"toolu_01","name":"Bash","input":{"command":"","description":""}},{"type":"text",'
    '"text":""}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":'
    ',"cache_creation_input_tokens":0,"cache_read_input_tokens":,"cache_creation":'
    '{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":,'
    '"service_tier":"standard"}},"stop_reason":"tool_use","upstream":null,'
)
DICTIONARIES = ((_REQUEST_HEADERS + _RESPONSE_HEADERS + _TIMELINE + _MESSAGE).encode(),)
CURRENT = DICTIONARIES[-1]
_BY_ID = {zlib.adler32(d): d for d in DICTIONARIES}  # zlib rows name theirs by checksum
FDICT = 0x20
ZSTD = 0xF0
"""The first byte of a zstd record: ZSTD + the index of its dictionary in DICTIONARIES (a zlib
stream's first byte is 0x78)."""
LEVEL = 3


class Packer:
    """Compresses records against the newest dictionary, with one zstd context and dictionary
    made once: the recorder packs one record per exchange. zstd level 3 with the dictionary
    prepared once takes ~8 µs for a Claude Code stream's record where zlib took ~20-40 µs (zlib
    sets its dictionary and allocates its state at every record), for ~10% more bytes.
    One per writer: a zstd context must not be used by two threads at once."""

    def __init__(self) -> None:
        zdict = zstandard.ZstdCompressionDict(CURRENT, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        zdict.precompute_compress(level=LEVEL)
        self._zstd = zstandard.ZstdCompressor(
            dict_data=zdict, write_checksum=False, write_dict_id=False
        )
        self._tag = bytes([ZSTD + len(DICTIONARIES) - 1])

    def pack(self, value: Any) -> bytes:
        return self.pack_json(orjson.dumps(value))

    def pack_json(self, data: bytes) -> bytes:
        return self._tag + self._zstd.compress(data)


def pack(value: Any) -> bytes:
    """One record, for callers outside the recorder's loop (a Packer is made for it)."""
    return Packer().pack(value)


def unpack(data: bytes) -> Any:
    return orjson.loads(unpack_json(data))


def unpack_json(data: bytes) -> bytes:
    """A zstd record, or from older rows a zlib stream against one of DICTIONARIES or plain."""
    if data and data[0] >= ZSTD:
        zdict = zstandard.ZstdCompressionDict(
            DICTIONARIES[data[0] - ZSTD], dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        return zstandard.ZstdDecompressor(dict_data=zdict).decompress(data[1:])
    if len(data) >= 6 and data[1] & FDICT:
        zdict_bytes = _BY_ID[int.from_bytes(data[2:6], "big")]
        d = zlib.decompressobj(zdict=zdict_bytes)
        return d.decompress(data) + d.flush()
    return zlib.decompress(data)
