"""Edge cache hits read from the edge's JSON log into the usage counts (registry/usage/edge.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from registry.runtime import Runtime
from registry.usage.edge import LogPosition, ingest, read_new_lines, tally
from registry.usage.repository import UsageRepository

ASSET = "ast_" + "a" * 26
WHEN = datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC).timestamp()


def _line(uri: str, cache: str = "HIT", status: int = 200, method: str = "GET", referer: str = "",
          ts: float = WHEN) -> str:
    return json.dumps({"ts": ts, "method": method, "uri": uri, "status": status, "cache": cache,
                       "referer": referer})


def test_only_what_the_cache_answered_is_counted() -> None:
    immutable, negotiated = f"/v/{ASSET}/web_thumb/abc.webp", f"/v/{ASSET}/web_thumb"
    counts = tally([
        _line(immutable),  # counted
        _line(immutable, cache="STALE", status=304, referer="https://loja.example.com.br/p/1"),  # counted
        _line(negotiated, method="HEAD", status=206),  # counted
        _line(immutable, cache="MISS"),  # went to the API, which counted it
        _line(immutable, cache="BYPASS"),  # a purge request
        _line(immutable, cache="-"),  # not cacheable (signed, private): the API answered
        _line(immutable, status=410),  # a revoked picture's cached answer: not a hit
        _line(immutable, method="POST"),
        _line("/v1/media/x/y"), _line("/healthz"), _line("/v//x/y.jpg"),
        "not json", json.dumps({"uri": immutable}), "",
    ])
    day = datetime.fromtimestamp(WHEN, UTC).date()
    assert counts.counted == 3 and counts.unreadable == 2 and counts.lines == 13
    assert counts.hits == {day: {(ASSET, "web_thumb"): 3}}
    assert counts.sites == {day: {(ASSET, "loja.example.com.br"): 1}}


def test_a_negotiated_hit_counts_under_the_profile_it_served() -> None:
    negotiated = f"/v/{ASSET}/web_thumb"
    served = json.loads(_line(negotiated)) | {"served": f"/v/{ASSET}/avif_thumb/abc.avif"}
    elsewhere = json.loads(_line(negotiated)) | {"served": "/v/ast_other/avif_thumb/abc.avif"}  # not this asset's
    counts = tally([json.dumps(served), json.dumps(elsewhere), _line(negotiated),
                    json.dumps(json.loads(_line(negotiated)) | {"served": ""})])
    day = datetime.fromtimestamp(WHEN, UTC).date()
    assert counts.hits == {day: {(ASSET, "avif_thumb"): 1, (ASSET, "web_thumb"): 3}}


def test_new_lines_are_read_once_and_a_half_written_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text("one\ntwo\nthr", encoding="utf-8")
    lines, position = read_new_lines(log, None)
    assert lines == ["one", "two"] and position.offset == len("one\ntwo\n")
    with log.open("a", encoding="utf-8") as handle:
        handle.write("ee\nfour\n")
    lines, position = read_new_lines(log, position)
    assert lines == ["three", "four"]
    assert read_new_lines(log, position)[0] == []
    log.write_text("new\n", encoding="utf-8")  # truncated (copytruncate rotation): read from the start
    assert read_new_lines(log, position)[0] == ["new"]
    rotated = tmp_path / "rotated.jsonl"
    rotated.write_text("a\nb\nc\nd\ne\nf\n", encoding="utf-8")
    rotated.replace(log)  # another file under the same name: from its start, even if it is longer
    assert read_new_lines(log, LogPosition(position.inode, 2))[0] == ["a", "b", "c", "d", "e", "f"]


def test_ingest_adds_cache_hits_once(runtime: Runtime, tmp_path: Path) -> None:
    log, state = tmp_path / "usage.jsonl", tmp_path / "usage.position"
    uri = f"/v/{ASSET}/swatch/v1.jpg"
    log.write_text("\n".join([_line(uri), _line(uri, referer="https://shop.example.jp/"), _line(uri, cache="MISS")])
                   + "\n", encoding="utf-8")
    first = ingest(runtime, log, state)
    again = ingest(runtime, log, state)  # nothing new: nothing counted twice
    with log.open("a", encoding="utf-8") as handle:
        handle.write(_line(uri) + "\n")
    third = ingest(runtime, log, state)
    assert (first.counted, again.counted, third.counted) == (2, 0, 1)
    day = datetime.fromtimestamp(WHEN, UTC).date()
    with runtime.db.read_only() as session:
        repository = UsageRepository(session)
        assert repository.hits_by_asset([ASSET], day) == {ASSET: 3}
        assert repository.sites_by_asset([ASSET], day) == {ASSET: {"shop.example.jp"}}
