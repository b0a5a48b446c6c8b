"""The staff database: one SQLite file (``instance/admin.sqlite``) with its schema.

SQLite in WAL mode lets any number of processes read while one writes; each call opens a
short connection (cheap, and safe across threads and forked workers). The schema is
created on first use and only ever grows (``_MIGRATIONS``), so an older file keeps working.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from geoservice.errors import StoreError

#: Schema steps, applied in order; ``PRAGMA user_version`` counts those already applied.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        towns TEXT NOT NULL DEFAULT '',
        password TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until REAL NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        digest TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        last_used TEXT,
        revoked_at TEXT
    );
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        via TEXT NOT NULL,
        layer TEXT NOT NULL,
        record_id TEXT NOT NULL,
        action TEXT NOT NULL,
        before TEXT,
        after TEXT,
        batch TEXT NOT NULL,
        reverts INTEGER
    );
    CREATE INDEX changes_record ON changes(layer, record_id, id);
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        station_id TEXT NOT NULL,
        problem TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open',
        handled_by TEXT,
        handled_at TEXT,
        change_id INTEGER
    );
    CREATE INDEX reports_open ON reports(status, station_id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The log page marks the changes that were reverted (Journal.reverted).
    """
    CREATE INDEX changes_reverts ON changes(reverts) WHERE reverts IS NOT NULL;
    """,
    # Worker reports: what staff said when confirming (a note) or dismissing (a reason).
    """
    ALTER TABLE reports ADD COLUMN resolution TEXT NOT NULL DEFAULT ''
    """,
)


def now() -> str:
    """The current moment as stored: ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Database:
    """The staff database at ``path`` (created with its schema on first use), or another
    SQLite file of the instance with its own schema (the job board, ``geoservice.jobs``).

    Parameters
    ----------
    path : str or Path
        The SQLite file, e.g. ``instance/admin.sqlite``.
    migrations : tuple of str, optional
        The file's schema steps (default: the staff database's).
    """

    def __init__(self, path: str | Path, migrations: tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        self._migrations = _MIGRATIONS if migrations is None else migrations
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")  # not inside a transaction
            con.close()
        except sqlite3.Error as exc:
            msg = f"cannot open the database {self.path}: {exc}"
            raise StoreError(msg) from exc
        with self.connect() as con:
            _migrate(con, self._migrations)

    def _open(self) -> sqlite3.Connection:
        """A connection in autocommit mode (transactions are begun explicitly), rows by name."""
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            msg = f"cannot open the database {self.path}: {exc}"
            raise StoreError(msg) from exc
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction: committed when the block ends, rolled back if
        it raises."""
        with self.pending() as con:
            yield con
            con.execute("COMMIT")

    @contextlib.contextmanager
    def pending(self) -> Iterator[sqlite3.Connection]:
        """A write transaction the caller commits itself (``con.execute("COMMIT")``) once
        another step has succeeded; rolled back if the block raises or leaves it open."""
        con = self._open()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
        finally:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()


def secret(db: Database, key: str = "secret_key") -> str:
    """A random secret kept in the database (made on first use): the key that signs the
    session cookies, so that every process of one instance shares it."""
    import secrets

    with db.connect() as con:
        con.execute(
            "INSERT OR IGNORE INTO settings(key, value) VALUES (?, ?)",
            (key, secrets.token_hex(32)),
        )
        return str(con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])


def _migrate(con: sqlite3.Connection, migrations: tuple[str, ...]) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    for n, script in enumerate(migrations[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            con.execute(statement)
        con.execute(f"PRAGMA user_version = {n}")
