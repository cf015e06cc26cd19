"""A migration's text never changes once shipped: a store that applied it long ago and one that
applies it today must end up with the same schema. A new schema change is a new step (add its
digest here); a digest that no longer matches is an edited past migration."""

from __future__ import annotations

import hashlib

from anthropic_proxy.storage import migrations

SHIPPED = {  # name: (sha256[:16] of the SQLite text, of the PostgreSQL text)
    "001_exchanges": ("61079021dfdfd0eb", "61079021dfdfd0eb"),
    "002_exchange_indexes": ("7387709d06e750b3", "7387709d06e750b3"),
    "003_blobs": ("35045268f4a71ba9", "35045268f4a71ba9"),
    "004_shared_state": ("3cc387a703646996", "3cc387a703646996"),
    "005_sort_and_percentile_indexes": ("ed1dd7994a169f5a", "ed1dd7994a169f5a"),
    "006_stats_rollup": ("813724742a6b2162", "5da484d9be547470"),
    "007_text_search": ("445bb424cd35b10f", "5646e31f79b65ee8"),
    "008_stats_rollup_levels": ("a48dbac2c2a0bc15", "0931ab1cc404ce82"),
    "009_recorder_v2": ("12c48fa03a4b6355", "87323368210c25ca"),
    "030_usage_columns": ("53727d7e2287c8bc", "53727d7e2287c8bc"),
    "031_usage_anatomy": ("7c26a826d5564fe6", "7c26a826d5564fe6"),
    "032_usage_backend_priced": ("e1dfb260715b1d71", "e1dfb260715b1d71"),
    "020_routing_attempts": ("496e8fbe5a4f3eb6", "496e8fbe5a4f3eb6"),
    "040_search_queue_by_writer": ("51beceef06a267e7", "6ef948db8ac2ebe3"),
    "041_anatomy_parts": ("8567e1d3202c5252", "7000a10b9f90a667"),
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_past_migrations_keep_their_text_and_order() -> None:
    steps = dict(migrations.MIGRATIONS)
    assert list(steps)[: len(SHIPPED)] == list(SHIPPED)
    for name, expected in SHIPPED.items():
        dialects = (migrations.SQLITE, migrations.POSTGRESQL)
        assert tuple(digest(migrations.ddl(steps[name], d)) for d in dialects) == expected, name
