"""The audit log: every store write of a record is journaled with who, how, before and
after; changes revert one at a time; nothing is half-written."""

from __future__ import annotations

import pytest
from conftest import run_forked

from geoservice.admin import Journal, PgDatabase, acting, open_database
from geoservice.errors import RevertError, StoreError
from geoservice.store import records

NEW = {"name": "审计驿站", "lon": 116.85, "lat": 40.38, "opening_hours": "24/7"}


@pytest.fixture
def journal(tmp_path, store_url):
    """The audit log in SQLite's file and in PostgreSQL."""
    return Journal(open_database(store_url or tmp_path / "admin.sqlite"))


@pytest.fixture
def store(store_backend, journal):
    # Both backends: the journal wraps each one's commit alike.
    return store_backend.open(seed=True, journal=journal)


def test_each_changed_record_is_one_entry_with_before_and_after(store, journal):
    with acting("alice", "page"):
        rid = records.create(store, "stations", NEW)
        records.patch(store, "stations", rid, {"phone": "010-6904 1234"})
    entries, total = journal.entries()
    assert total == 2
    update, create = entries
    assert (create.action, create.user, create.via, create.before) == (
        "create",
        "alice",
        "page",
        None,
    )
    assert create.after["name"] == "审计驿站"
    assert create.after["version"] == 1
    assert update.fields == ["phone"]
    assert (update.before["phone"], update.after["phone"]) == ("", "010-6904 1234")
    assert update.after["version"] == 2
    # Writes that change no record are not journaled (and not written).
    revision = store.revision()
    store.update("stations", lambda g: (g, None))
    assert store.revision() == revision
    assert journal.entries()[1] == 2


def test_a_bulk_write_is_one_batch(store, journal):
    def rename(g):
        g.loc[:2, "name"] = ["甲", "乙", "丙"]
        return g, None

    store.update("stations", rename)
    entries, _ = journal.entries()
    assert len(entries) == 3
    assert len({e.batch for e in entries}) == 1
    assert {e.user for e in entries} == {"system"}
    assert {e.via for e in entries} == {"cli"}


def test_revert_an_update_a_create_and_a_delete(store, journal):
    rid = records.create(store, "stations", NEW)
    records.patch(store, "stations", rid, {"name": "改过的名字"})
    (update, _), _ = journal.entries(limit=2)
    records.revert(store, journal, update.id)
    assert store.stations().set_index("id").loc[rid, "name"] == "审计驿站"
    assert records.version(store, "stations", rid) == 3  # a revert is a change too
    revert = journal.entries()[0][0]
    assert revert.reverts == update.id
    records.delete(store, "stations", rid)
    records.revert(store, journal, journal.entries()[0][0].id)  # the delete
    assert rid in set(store.stations()["id"])
    assert journal.entries()[0][0].action == "restore"
    records.revert(store, journal, journal.entries()[0][0].id)  # the restore: deleted again
    assert rid not in set(store.stations()["id"])
    assert [e.record_id for e in journal.deleted("stations")] == [rid]


def test_a_change_a_later_change_touched_is_not_reverted(store, journal):
    rid = records.create(store, "stations", NEW)
    records.patch(store, "stations", rid, {"name": "一"})
    records.patch(store, "stations", rid, {"name": "二"})
    first = journal.entries()[0][-1]
    with pytest.raises(RevertError) as info:
        records.revert(store, journal, first.id)
    assert info.value.status == 409
    later = journal.entries()[0][-2]
    assert f"#{later.id}" in info.value.zh
    assert store.stations().set_index("id").loc[rid, "name"] == "二"
    with pytest.raises(RevertError) as info:
        records.revert(store, journal, 999)
    assert info.value.status == 404


def test_a_town_editor_cannot_revert_another_towns_change(store, journal):
    rid = records.create(store, "stations", {**NEW, "town_code": "110118102"})
    entry = journal.entries()[0][0]
    with pytest.raises(Exception, match="无权") as info:
        records.revert(store, journal, entry.id, may_edit=lambda town: town == "110118101")
    assert info.value.status == 403
    assert rid in set(store.stations()["id"])


def test_a_failed_commit_keeps_no_journal_entry(store, journal, monkeypatch):
    def broken(*args):
        msg = "disk full"
        raise StoreError(msg)

    monkeypatch.setattr(store, "_commit", broken)
    with pytest.raises(StoreError):
        records.create(store, "stations", NEW)
    assert journal.entries()[1] == 0


def test_a_journal_that_cannot_write_leaves_the_store_unchanged(store, journal, tmp_path):
    revision = store.revision()
    if isinstance(journal.db, PgDatabase):
        journal.db.url = "postgresql://nobody@127.0.0.1:1/none"  # cannot be reached
    else:
        (tmp_path / "admin.sqlite").chmod(0o400)
        journal.db.path = tmp_path / "missing" / "admin.sqlite"  # cannot be opened
    with pytest.raises(Exception):  # noqa: B017, PT011
        records.create(store, "stations", NEW)
    assert store.revision() == revision


def test_the_log_as_csv_neutralises_formulas(store, journal):
    records.create(store, "stations", {**NEW, "name": "=1+1"})
    text = journal.to_csv()
    assert text.startswith("\ufeff")
    assert ",'=1+1," in text


def test_a_deleted_records_id_is_never_given_again(store, journal, tmp_path):
    rid = records.create(store, "stations", NEW)
    records.delete(store, "stations", rid)
    again = records.create(store, "stations", {**NEW, "name": "另一个驿站"})
    assert again != rid
    path = tmp_path / "more.csv"
    path.write_text("name,lon,lat,opening_hours\n第三个,116.87,40.39,24/7\n", encoding="utf-8")
    from geoservice.store import catalog

    report = catalog.import_file(store, "stations", path)
    assert rid not in report.added
    records.restore(store, journal, "stations", rid)  # still restorable under its id
    assert rid in set(store.stations()["id"])


def _journal_many(url: str, user: str, n: int) -> None:
    from geoservice.store.changes import RecordChange

    journal = Journal(open_database(url))
    for i in range(n):
        with acting(user, "api"), journal([RecordChange("stations", f"{user}{i}", None, {})]):
            pass  # the store's write would be here


def test_two_processes_journaling_at_once_lose_nothing(pg_url):
    n = 30
    journal = Journal(open_database(pg_url))
    run_forked(_journal_many, [(pg_url, u, n) for u in ("a", "b")])
    entries, total = journal.entries(limit=500)
    assert total == 2 * n
    assert sorted(e.record_id for e in entries) == sorted(f"{u}{i}" for u in "ab" for i in range(n))
    assert len({e.id for e in entries}) == 2 * n
    assert {e.user for e in entries} == {"a", "b"}
