"""Hits answered from the edge's cache, read from its JSON log and added to the usage counts.

The API counts every variant request it answers (api/hotlink.py); a request the nginx edge answers
from its cache never reaches it. The edge logs each variant request as one JSON line
(infra/nginx/skupix-edge.conf.template, `log_format skupix_edge`); this module reads the lines added
since the last read and counts those the cache answered (HIT, STALE, UPDATING, REVALIDATED) — the
others went to the API, which counted them already. A negotiated URL's hit counts under the profile
it served (its Content-Location, logged as "served"), as the API counts it.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from registry.runtime import Runtime
from registry.usage.service import record_hits

# $upstream_cache_status values of an answer made from the cache without the API
FROM_CACHE = frozenset({"HIT", "STALE", "UPDATING", "REVALIDATED"})
_COUNTED_STATUS = frozenset({200, 206, 304})


@dataclass
class EdgeTally:
    """Cache hits per UTC day: by (asset, profile) and by (asset, referring host), as the API counts them."""

    hits: defaultdict[date, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    sites: defaultdict[date, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    lines: int = 0
    counted: int = 0
    unreadable: int = 0

    def add(self, line: str) -> None:
        """Count one log line if the cache answered a variant URL with it."""
        self.lines += 1
        try:
            entry = json.loads(line)
            cache, method, status = entry["cache"], entry["method"], int(entry["status"])
            uri, when, referer = str(entry["uri"]), float(entry["ts"]), str(entry.get("referer") or "")
            served = str(entry.get("served") or "")
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if cache not in FROM_CACHE or method not in ("GET", "HEAD") or status not in _COUNTED_STATUS:
            return
        parts = uri.split("/")
        # /v/{asset}/{profile}/{version}.{ext} or the negotiated /v/{asset}/{profile}
        if len(parts) not in (4, 5) or parts[1] != "v" or not parts[2] or not parts[3]:
            return
        asset_id, profile = parts[2], parts[3]
        chosen = served.split("/")
        if len(parts) == 4 and len(chosen) == 5 and chosen[1] == "v" and chosen[2] == asset_id and chosen[3]:
            profile = chosen[3]  # the format sibling the negotiated URL answered with
        day = datetime.fromtimestamp(when, UTC).date()
        self.hits[day][(asset_id, profile)] += 1
        host = urlsplit(referer).hostname if referer else None
        if host:
            self.sites[day][(asset_id, host[:255])] += 1
        self.counted += 1


@dataclass
class LogPosition:
    """How far a log has been read: its inode and the offset after the last complete line."""

    inode: int
    offset: int


def read_new_lines(log: Path, position: LogPosition | None) -> tuple[list[str], LogPosition]:
    """The complete lines added to `log` since `position`, and the position after them.

    A new inode (the log was rotated) or a file shorter than the offset (truncated) is read from its
    start; a last line still being written is left for the next read.
    """
    with log.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        offset = 0
        if position is not None and position.inode == stat.st_ino and position.offset <= stat.st_size:
            offset = position.offset
        handle.seek(offset)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].decode("utf-8", errors="replace").splitlines()
    return lines, LogPosition(stat.st_ino, offset + complete)


def load_position(state: Path) -> LogPosition | None:
    """The position saved in `state`, if any."""
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
        return LogPosition(int(saved["inode"]), int(saved["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_position(state: Path, position: LogPosition) -> None:
    """Write the position atomically (a crash leaves the old one or the new one)."""
    temporary = state.with_name(state.name + ".tmp")
    temporary.write_text(json.dumps({"inode": position.inode, "offset": position.offset}), encoding="utf-8")
    os.replace(temporary, state)


def tally(lines: Iterable[str]) -> EdgeTally:
    """Count the cache's hits among log lines."""
    counts = EdgeTally()
    for line in lines:
        if line.strip():
            counts.add(line)
    return counts


def ingest(rt: Runtime, log: Path, state: Path) -> EdgeTally:
    """Add the cache hits logged since the last call to the usage counts; remember how far it read.

    The counts are written before the position is saved: a crash between the two counts those lines
    again on the next run (at most one batch), never loses them.
    """
    lines, position = read_new_lines(log, load_position(state))
    counts = tally(lines)
    for day in sorted(set(counts.hits) | set(counts.sites)):
        record_hits(rt, day, counts.hits.get(day, Counter()), counts.sites.get(day, Counter()))
    save_position(state, position)
    return counts
