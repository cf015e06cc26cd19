"""Stored records and parts: what is written now, and what rows written before hold, read back."""

from __future__ import annotations

import zlib

import orjson

from anthropic_proxy.storage import bodies, packing

RECORD = {
    "request_headers": {"x-api-key": "sk-ant-api...abcd", "anthropic-version": "2023-06-01"},
    "timeline": [[0.5, "message_start", 420], [12.25, "text_delta", 96]],
    "content": {"response": {"type": "message", "content": [{"type": "text", "text": "hi"}]}},
}


def test_a_record_is_zstd_against_the_newest_dictionary() -> None:
    packed = packing.Packer().pack(RECORD)
    assert packed[0] == packing.ZSTD + len(packing.DICTIONARIES) - 1
    assert packed[1:5] == bodies.ZSTD_MAGIC
    assert packing.unpack(packed) == RECORD
    # The dictionary is what makes a small record small.
    assert len(packed) < len(zlib.compress(orjson.dumps(RECORD), 9))


def test_records_written_with_zlib_still_read() -> None:
    data = orjson.dumps(RECORD)
    with_dictionary = zlib.compressobj(6, zdict=packing.DICTIONARIES[0])
    before_zstd = with_dictionary.compress(data) + with_dictionary.flush()
    assert packing.unpack(before_zstd) == RECORD
    assert packing.unpack(zlib.compress(data)) == RECORD  # before the dictionaries


def test_parts_zstd_raw_or_zlib_from_before() -> None:
    compress = bodies.Compressor()
    long = orjson.dumps({"role": "user", "content": "a long turn " * 80})
    short = orjson.dumps({"role": "user", "content": "short"})
    assert compress(short) == short
    assert compress(long)[:4] == bodies.ZSTD_MAGIC
    assert len(compress(long)) < len(long) // 4
    for stored in (compress(long), long, zlib.compress(long, 6)):
        assert bodies.decompress(stored) == long
