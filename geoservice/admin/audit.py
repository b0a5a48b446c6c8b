"""The audit log: who changed which record, when, by which path, before and after.

The store calls the :class:`Journal` with the record changes of every write
(:mod:`geoservice.store.changes`); who is acting comes from :func:`acting`, set by the web
layer for a page or an API call and by the CLI (as the system user, ``cli``). A write with
nobody acting is recorded as the system user too, so no change goes unrecorded. Entries
are written in the store's write step and kept only if the write succeeds.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from geoservice.admin.db import StaffDatabase, now
from geoservice.errors import RevertError
from geoservice.escape import spreadsheet_cell
from geoservice.store.changes import RecordChange

#: The user of changes made on the server's command line (and by nobody logged in).
SYSTEM_USER = "system"
#: The paths a change comes by.
VIAS = {"page": "后台页面", "api": "写入接口", "cli": "命令行"}
ACTIONS = {
    "create": "新增",
    "update": "修改",
    "delete": "删除",
    "restore": "恢复",
}
#: Most entries one page of the log lists.
MAX_PAGE = 500


@dataclass(frozen=True)
class Actor:
    """Who is acting, by which path; ``reverts`` names the change being reverted and
    ``restoring`` marks a restore of deleted records."""

    user: str = SYSTEM_USER
    via: str = "cli"
    reverts: int | None = None
    restoring: bool = False


_NOBODY = Actor()
_ACTOR: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "geoservice_actor", default=None
)
_CHANGE = "change"


@contextlib.contextmanager
def acting(user: str, via: str, **kwargs: Any) -> Iterator[Actor]:
    """Attribute the store writes made inside the block to ``user`` by ``via``."""
    actor = replace(current_actor(), user=user, via=via, **kwargs)
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def current_actor() -> Actor:
    """Who the writes made now are attributed to."""
    return _ACTOR.get() or _NOBODY


@dataclass(frozen=True)
class Entry:
    """One change of the log."""

    id: int
    at: str
    user: str
    via: str
    layer: str
    record_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    batch: str
    reverts: int | None

    @property
    def fields(self) -> list[str]:
        """The fields the change set or altered (``version`` left out)."""
        a, b = self.before or {}, self.after or {}
        return [k for k in (b or a) if k != "version" and a.get(k) != b.get(k)]

    @property
    def name(self) -> str:
        """The record's name, after the change (before it for a delete)."""
        return str((self.after or self.before or {}).get("name", ""))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "at": self.at,
            "user": self.user,
            "via": self.via,
            "layer": self.layer,
            "record_id": self.record_id,
            "name": self.name,
            "action": self.action,
            "action_label": ACTIONS.get(self.action, self.action),
            "fields": self.fields,
            "before": self.before,
            "after": self.after,
            "batch": self.batch,
            "reverts": self.reverts,
        }


def _entry(row: Any) -> Entry:
    return Entry(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        via=row["via"],
        layer=row["layer"],
        record_id=row["record_id"],
        action=row["action"],
        before=json.loads(row["before"]) if row["before"] else None,
        after=json.loads(row["after"]) if row["after"] else None,
        batch=row["batch"],
        reverts=row["reverts"],
    )


@dataclass(frozen=True)
class LogFilter:
    """What part of the log to list (every field optional)."""

    layer: str | None = None
    record_id: str | None = None
    user: str | None = None
    via: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        terms, args = ["1 = 1"], []
        for column in ("layer", "record_id", "user", "via", "action"):
            value = getattr(self, column)
            if value:
                terms.append(f'"{column}" = ?')  # quoted: "user" is a keyword of SQL
                args.append(value)
        if self.since:
            terms.append("at >= ?")
            args.append(self.since)
        if self.until:
            terms.append("at < ?")
            args.append(self.until)
        return " AND ".join(terms), args


class Journal:
    """The audit log in the staff database; the store's journal (call it with changes).

    Parameters
    ----------
    db : Database or PgDatabase
    """

    def __init__(self, db: StaffDatabase) -> None:
        self.db = db

    @contextlib.contextmanager
    def __call__(self, changes: list[RecordChange]) -> Iterator[None]:
        actor = current_actor()
        batch = uuid.uuid4().hex[:12]
        at = now()
        with self.db.pending() as con:
            con.executemany(
                'INSERT INTO changes(at, "user", via, layer, record_id, action, before, after,'
                " batch, reverts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        at,
                        actor.user,
                        actor.via,
                        c.layer,
                        c.record_id,
                        "restore" if actor.restoring and c.action == "create" else c.action,
                        _json(c.before),
                        _json(c.after),
                        batch,
                        actor.reverts,
                    )
                    for c in changes
                ],
            )
            yield  # the store commits its layers here
            con.execute("COMMIT")

    def entries(
        self, where: LogFilter | None = None, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[Entry], int]:
        """Entries matching ``where``, newest first, and how many match in all."""
        sql, args = (where or LogFilter()).where()
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.connect() as con:
            total = con.execute(f"SELECT count(*) FROM changes WHERE {sql}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT * FROM changes WHERE {sql} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*args, limit, max(0, offset)],
            ).fetchall()
        return [_entry(r) for r in rows], int(total)

    def get(self, change_id: int) -> Entry:
        """One entry (RevertError 404 when there is none)."""
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        if row is None:
            zh, en = f"没有编号为 {change_id} 的修改记录", f"no change {change_id} in the log"
            raise RevertError(_CHANGE, zh, en, status=404)
        return _entry(row)

    def later(self, entry: Entry) -> Entry | None:
        """The first change after ``entry`` that touched the same record, or None."""
        with self.db.connect() as con:
            row = con.execute(
                "SELECT * FROM changes WHERE layer = ? AND record_id = ? AND id > ?"
                " ORDER BY id LIMIT 1",
                (entry.layer, entry.record_id, entry.id),
            ).fetchone()
        return None if row is None else _entry(row)

    def last_delete(self, layer: str, record_id: str) -> Entry | None:
        """The latest change of the record if it was its deletion, else None."""
        with self.db.connect() as con:
            row = con.execute(
                "SELECT * FROM changes WHERE layer = ? AND record_id = ? ORDER BY id DESC LIMIT 1",
                (layer, record_id),
            ).fetchone()
        return _entry(row) if row is not None and row["action"] == "delete" else None

    def reverted(self, ids: Iterable[int]) -> dict[int, int]:
        """Which of the changes ``ids`` have been reverted: change id → the id of the
        change that reverted it (at most one: a revert is the record's next change, and a
        change with a later one cannot be reverted)."""
        wanted = sorted(set(ids))[:MAX_PAGE]
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT id, reverts FROM changes WHERE reverts IN ({marks})", wanted
            ).fetchall()
        return {int(r["reverts"]): int(r["id"]) for r in rows}

    def deleted(self, layer: str, *, limit: int = 200) -> list[Entry]:
        """Records of ``layer`` whose latest change is their deletion (the restorable
        ones), most recently deleted first."""
        with self.db.connect() as con:
            rows = con.execute(
                "SELECT c.* FROM changes c JOIN (SELECT record_id, max(id) AS last"
                " FROM changes WHERE layer = ? GROUP BY record_id) m ON c.id = m.last"
                " WHERE c.action = 'delete' ORDER BY c.id DESC LIMIT ?",
                (layer, max(1, min(limit, MAX_PAGE))),
            ).fetchall()
        return [_entry(r) for r in rows]

    def retired(self, layer: str) -> set[str]:
        """Every id of ``layer`` that was ever deleted (new records never get one)."""
        with self.db.connect() as con:
            rows = con.execute(
                "SELECT DISTINCT record_id FROM changes WHERE layer = ? AND action = 'delete'",
                (layer,),
            ).fetchall()
        return {r[0] for r in rows}

    def to_csv(self, where: LogFilter | None = None, *, limit: int = 100_000) -> str:
        """The matching entries as CSV (UTF-8 with BOM, for Excel), formulas neutralised."""
        entries = self._all(where, limit)
        out = io.StringIO()
        out.write("\ufeff")
        w = csv.writer(out)
        w.writerow(
            [
                "编号 id",
                "时间 at (UTC)",
                "用户 user",
                "途径 via",
                "图层 layer",
                "记录 record",
                "名称 name",
                "操作 action",
                "字段 fields",
                "修改前 before",
                "修改后 after",
                "撤销 reverts",
            ]
        )
        for e in entries:
            w.writerow(
                spreadsheet_cell(v)
                for v in (
                    e.id,
                    e.at,
                    e.user,
                    e.via,
                    e.layer,
                    e.record_id,
                    e.name,
                    e.action,
                    ";".join(e.fields),
                    _json(e.before) or "",
                    _json(e.after) or "",
                    e.reverts or "",
                )
            )
        return out.getvalue()

    def _all(self, where: LogFilter | None, limit: int) -> list[Entry]:
        """Every matching entry up to ``limit``, newest first, in one read (paging by
        offset would skip or repeat entries written meanwhile)."""
        sql, args = (where or LogFilter()).where()
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT * FROM changes WHERE {sql} ORDER BY id DESC LIMIT ?", [*args, limit]
            ).fetchall()
        return [_entry(r) for r in rows]


def _json(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False, sort_keys=True)
