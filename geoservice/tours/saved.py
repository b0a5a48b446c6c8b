"""Saved tour plans: one JSON file per plan in the instance folder (or one row per plan in
the PostgreSQL database of ``STORE_URL``), each owned by someone.

Layout of ``directory`` (``<instance>/tours/``)::

    <id>.summary.json   the few fields a listing shows, with the owner (read without
                        opening the plan)
    <id>.json           {"id", "created", "owner", "request", "result"}

Ids are ``YYYYMMDD-HHMMSS-`` and 20 random hex digits (80 bits): they sort by age, can
never name a path outside the folder, and cannot be guessed, so a plan's id is what lets
one read it (a saved link). Ids of 6 random digits, made before, are still read.

A plan is *owned* by the staff user who saved it (signed in, or with an API token) or by
nobody (anonymous). Anonymous plans are kept for `ANONYMOUS_TTL` and at most
`MAX_ANONYMOUS` of them (the oldest go first); they never evict a signed-in user's plan,
and those are never evicted. A listing shows a viewer only what they may see
(:class:`Viewer`).

Saving writes the summary, then the plan, each to a temporary file that is flushed and
renamed over the target: the plan's rename is the commit. A plan is listed and read only
when both files exist, so a save killed at any point leaves either nothing or a whole
plan; removal goes in the other order. At start, temporary files and summaries without a
plan older than `STALE_S` (older than any save in progress, in this or another process)
are removed, and a plan without its summary (written before this order) gets one.

In PostgreSQL (:class:`_Table`) a plan is one row of the table ``tours`` (its id, owner,
creation time, summary and plan), written in one transaction: the same rules, nothing to
tidy.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoservice.admin.db import PgDatabase, is_url
from geoservice.errors import StoreError, TourNotFoundError

if TYPE_CHECKING:
    from geoservice.responses import TourListing

#: A plan's id: when it was saved (Asia/Shanghai) and 20 random hex digits (6 before).
ID_PATTERN = r"^\d{8}-\d{6}-(?:[0-9a-f]{20}|[0-9a-f]{6})$"
_ID = re.compile(ID_PATTERN)
_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
#: Most anonymous plans kept (signed-in users' plans are not counted, nor evicted).
MAX_ANONYMOUS = 200
#: How long an anonymous plan is kept.
ANONYMOUS_TTL = dt.timedelta(hours=24)
MAX_BYTES = 32 * 1024 * 1024
#: Age (seconds) past which a temporary file, or a summary without its plan, is left over
#: from a save that was killed: a save takes milliseconds.
STALE_S = 600
_SUMMARY = ".summary.json"


@dataclass(frozen=True)
class Viewer:
    """Who reads a listing: a user's name (None: anonymous) and whether they see all.

    An anonymous viewer sees no listing (a plan is read by its id); a signed-in user sees
    their own plans and the anonymous ones; an admin, and the command line, see all.
    """

    name: str | None = None
    sees_all: bool = False

    def may_see(self, owner: str | None) -> bool:
        """Whether a plan owned by ``owner`` (None: anonymous) is listed to this viewer."""
        if self.sees_all:
            return True
        return self.name is not None and owner in (None, self.name)


#: An anonymous reader: no listing.
ANONYMOUS = Viewer()
#: The operator (the command line): every plan.
EVERYONE = Viewer(sees_all=True)


class TourStore:
    """Save, list and reopen tour plans.

    Parameters
    ----------
    location : Path or str
        The folder where the plans live (created on first save), or a ``postgresql://``
        URL: the table ``tours`` of that database (created on first use).
    max_anonymous : int
        Most anonymous plans kept; saving one more removes the oldest anonymous one.
    max_bytes : int
        Largest plan file accepted.
    anonymous_ttl : datetime.timedelta
        How long an anonymous plan is kept.
    clock : callable, optional
        The time now (timezone-aware); default the system's.

    Raises
    ------
    StoreError
        The database of a URL cannot be reached.
    """

    def __init__(
        self,
        location: Path | str,
        max_anonymous: int = MAX_ANONYMOUS,
        max_bytes: int = MAX_BYTES,
        anonymous_ttl: dt.timedelta = ANONYMOUS_TTL,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.location = location if is_url(location) else Path(location)
        self._plans: _Files | _Table
        if isinstance(self.location, Path):
            self._plans = _Files(self.location)
            self.directory: Path | None = self.location
        else:
            self._plans = _Table(self.location)
            self.directory = None
        self.max_anonymous = max_anonymous
        self.max_bytes = max_bytes
        self.anonymous_ttl = anonymous_ttl
        self.clock = clock or (lambda: dt.datetime.now(_TZ))
        self._plans.tidy()
        self._prune()

    def save(
        self,
        request: Mapping[str, Any],
        result: Mapping[str, Any],
        *,
        owner: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict:
        """Store a plan of ``owner`` (a user's name; None: anonymous); return it as served
        (``id``, ``created``, ``request``, ``result``).

        Raises
        ------
        StoreError
            The plan is larger than ``max_bytes`` or cannot be written.
        """
        now = (now or self.clock()).astimezone(_TZ)
        plan_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(10)}"
        record = {
            "id": plan_id,
            "created": now.isoformat(timespec="seconds"),
            "owner": owner,
            "request": request,
            "result": result,
        }
        data = json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8")
        if len(data) > self.max_bytes:
            msg = (
                f"方案过大（{len(data) / 1e6:.1f} MB），未保存 / "
                f"the plan is too large to save ({len(data)} bytes, limit {self.max_bytes})"
            )
            raise StoreError(msg)
        self._plans.put(record, data)
        self._prune()
        return _public(record)

    def get(self, plan_id: str) -> dict:
        """The saved plan ``plan_id`` (``id``, ``created``, ``request``, ``result``).

        Raises
        ------
        TourNotFoundError
            No such plan, or an anonymous one past its time.
        """
        if not isinstance(plan_id, str) or not _ID.match(plan_id):
            msg = f"方案编号格式不对：{str(plan_id)[:40]!r} / not a plan id: {str(plan_id)[:40]!r}"
            raise TourNotFoundError(msg)
        record = self._plans.read(plan_id)
        if record is None:
            msg = f"没有编号为 {plan_id[:40]!r} 的方案 / no saved plan {plan_id[:40]!r}"
            raise TourNotFoundError(msg)
        if self._expired(record):
            self._plans.remove(plan_id)
            msg = f"方案 {plan_id} 已过期清理 / the saved plan {plan_id} has expired"
            raise TourNotFoundError(msg)
        return _public(record)

    def list(
        self, limit: int = 100, offset: int = 0, *, viewer: Viewer = EVERYONE
    ) -> list[TourListing]:
        """Summaries of the newest ``limit`` plans ``viewer`` may see after the newest
        ``offset``, newest first."""
        return self.visible(viewer)[offset : offset + limit]

    def count(self, viewer: Viewer = EVERYONE) -> int:
        """How many plans ``viewer`` may see."""
        return len(self.visible(viewer))

    def visible(self, viewer: Viewer = EVERYONE) -> builtins.list[TourListing]:
        """Summaries of every plan ``viewer`` may see, newest first."""
        return [s for s in self._summaries()[::-1] if viewer.may_see(s.get("owner"))]

    # builtins.list: inside the class, ``list`` names the method above.
    def ids(self) -> builtins.list[str]:
        """Ids of all saved plans (summary and plan both written, not expired), oldest
        first."""
        return [s["id"] for s in self._summaries()]

    def _summaries(self) -> builtins.list[TourListing]:
        """The summaries of the plans kept, oldest first."""
        return [s for s in self._plans.summaries() if not self._expired(s)]

    def _expired(self, entry: Mapping[str, Any]) -> bool:
        if entry.get("owner") is not None:
            return False
        try:
            created = dt.datetime.fromisoformat(str(entry["created"]))
        except (KeyError, ValueError):
            return True
        return self.clock() - created > self.anonymous_ttl

    def _prune(self) -> None:
        """Remove the anonymous plans past their time, then the oldest beyond the cap."""
        anonymous = []
        for s in self._plans.summaries(anonymous=True):
            if self._expired(s):
                self._plans.remove(s["id"])
            else:
                anonymous.append(s["id"])
        for plan_id in anonymous[: max(0, len(anonymous) - self.max_anonymous)]:
            self._plans.remove(plan_id)


class _Files:
    """The plans as files in ``directory`` (the layout and the order of writes above)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, record: dict, data: bytes) -> None:
        """Write a plan (its record, and ``data`` the record as JSON)."""
        plan_id = record["id"]
        self.directory.mkdir(parents=True, exist_ok=True)
        # The summary first, the plan last: the plan's rename commits the save.
        _write(
            self.directory / f"{plan_id}{_SUMMARY}",
            json.dumps(summary(record), ensure_ascii=False).encode("utf-8"),
        )
        _write(self.directory / f"{plan_id}.json", data)

    def read(self, plan_id: str) -> dict | None:
        """The record of a committed plan, or None."""
        try:
            record: dict = json.loads((self.directory / f"{plan_id}.json").read_text("utf-8"))
            (self.directory / f"{plan_id}{_SUMMARY}").stat()  # a save not committed
        except (OSError, ValueError):
            return None
        return record

    def summaries(self, *, anonymous: bool = False) -> builtins.list[TourListing]:
        """The summaries of the committed plans (only the anonymous ones), oldest first."""
        out = []
        for plan_id in self._committed():
            try:
                s = json.loads((self.directory / f"{plan_id}{_SUMMARY}").read_text("utf-8"))
            except (OSError, ValueError):
                continue  # removed meanwhile
            if not anonymous or s.get("owner") is None:
                out.append(s)
        return out

    def _committed(self) -> builtins.list[str]:
        """Ids with both files, oldest first."""
        if not self.directory.is_dir():
            return []
        names = {p.name for p in self.directory.iterdir()}
        ids = (n[: -len(".json")] for n in names if n.endswith(".json"))
        return sorted(
            i for i in ids if _ID.match(i) and f"{i}.json" in names and f"{i}{_SUMMARY}" in names
        )

    def remove(self, plan_id: str) -> None:
        """Remove a plan (if it is still there)."""
        # The plan first: a removal cut short leaves a summary without its plan (not
        # listed, and removed at the next start), never a plan without its summary.
        (self.directory / f"{plan_id}.json").unlink(missing_ok=True)
        (self.directory / f"{plan_id}{_SUMMARY}").unlink(missing_ok=True)

    def tidy(self) -> None:
        """At start: remove what killed saves and removals left, summarise old plans."""
        if not self.directory.is_dir():
            return
        stale = time.time() - STALE_S
        names = {p.name for p in self.directory.iterdir()}
        for path in _leftovers(self.directory, names):
            try:
                if path.stat().st_mtime < stale:
                    path.unlink(missing_ok=True)
            except OSError:
                continue  # removed meanwhile
        for plan_id in _unsummarised(names):
            self._summarise(plan_id)

    def _summarise(self, plan_id: str) -> None:
        """Write the summary of a plan saved without one (anonymous if it names no owner)."""
        try:
            record = json.loads((self.directory / f"{plan_id}.json").read_text("utf-8"))
            data = json.dumps(summary(record), ensure_ascii=False).encode("utf-8")
        except (OSError, ValueError, KeyError, AttributeError, IndexError):
            return  # unreadable: never listed nor read
        _write(self.directory / f"{plan_id}{_SUMMARY}", data)


#: The table of the plans in PostgreSQL (SQLite's dialect, as every schema of
#: :mod:`geoservice.admin.db`); the summary and the plan are the files' JSON, as text.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tours (
        id TEXT PRIMARY KEY,
        owner TEXT,
        created TEXT NOT NULL,
        summary TEXT NOT NULL,
        plan TEXT NOT NULL
    );
    CREATE INDEX tours_anonymous ON tours(id) WHERE owner IS NULL
    """,
)


class _Table:
    """The plans as rows of the table ``tours`` in the PostgreSQL database at ``url``: a
    save is one insert, so a killed save leaves nothing or the whole plan."""

    def __init__(self, url: str) -> None:
        self.db = PgDatabase(url, _MIGRATIONS, schema="tours")

    def put(self, record: dict, data: bytes) -> None:
        """Insert a plan (its record, and ``data`` the record as JSON)."""
        with self.db.connect() as con:
            con.execute(
                "INSERT INTO tours(id, owner, created, summary, plan) VALUES (?, ?, ?, ?, ?)",
                (
                    record["id"],
                    record["owner"],
                    record["created"],
                    json.dumps(summary(record), ensure_ascii=False),
                    data.decode("utf-8"),
                ),
            )

    def read(self, plan_id: str) -> dict | None:
        """The record of a plan, or None."""
        with self.db.connect() as con:
            row = con.execute("SELECT plan FROM tours WHERE id = ?", (plan_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def summaries(self, *, anonymous: bool = False) -> builtins.list[TourListing]:
        """The summaries of the plans (only the anonymous ones), oldest first."""
        where = " WHERE owner IS NULL" if anonymous else ""
        with self.db.connect() as con:
            rows = con.execute(f"SELECT summary FROM tours{where} ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def remove(self, plan_id: str) -> None:
        """Remove a plan (if it is still there)."""
        with self.db.connect() as con:
            con.execute("DELETE FROM tours WHERE id = ?", (plan_id,))

    def tidy(self) -> None:
        """Nothing to tidy: a transaction leaves nothing half-written."""


def _leftovers(directory: Path, names: set[str]) -> Iterator[Path]:
    """Temporary files, and summaries whose plan was never committed or was removed."""
    for name in names:
        if name.endswith(".tmp"):
            yield directory / name
        elif name.endswith(_SUMMARY):
            plan_id = name[: -len(_SUMMARY)]
            if _ID.match(plan_id) and f"{plan_id}.json" not in names:
                yield directory / name


def _unsummarised(names: set[str]) -> builtins.list[str]:
    ids = (n[: -len(".json")] for n in names if n.endswith(".json") and not n.endswith(_SUMMARY))
    return sorted(i for i in ids if _ID.match(i) and f"{i}{_SUMMARY}" not in names)


def _public(record: Mapping[str, Any]) -> dict:
    """A plan as served: its owner is the listing's business, not the link holder's."""
    return {k: record[k] for k in ("id", "created", "request", "result")}


def summary(record: dict) -> TourListing:
    """The listing entry of a saved plan."""
    result = record["result"]
    s = result.get("summary", {})
    days = result.get("days", [])
    return {
        "id": record["id"],
        "created": record["created"],
        "owner": record.get("owner"),
        "depot": result.get("depot", {}).get("name", ""),
        "start_date": days[0].get("date") if days else None,
        "days_used": s.get("days_used", 0),
        "days_available": s.get("days_available", 0),
        "stops_served": s.get("stops_served", 0),
        "unserved": len(result.get("unserved", [])),
        "distance_km": s.get("distance_km", 0.0),
        "drive_hours": s.get("drive_hours", 0.0),
        "schematic": bool(result.get("schematic")),
    }


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"无法保存方案 / cannot save the plan: {exc}"
        raise StoreError(msg) from exc
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
