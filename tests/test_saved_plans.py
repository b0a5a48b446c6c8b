"""Saved plans belong to someone (issue 14): anonymous plans kept 24 hours and at most
`MAX_ANONYMOUS`, never evicting a signed-in user's plan (never evicted); a listing shows a
reader only what they may see; a save killed at any point leaves either nothing or the
whole plan; leftovers of killed saves are removed at start.

The store rules run on small synthetic plans with an injected clock; the API's owners and
listings on the tours API app (tests/test_api_tours.py) planning one stop.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import re
import time

import pytest
from conftest import STAFF_PASSWORD, assert_bilingual_error, login_as, run_forked
from test_api_tours import _app, planned_tour

from geoservice.errors import TourNotFoundError
from geoservice.tours import saved
from geoservice.tours.saved import ANONYMOUS, EVERYONE, TourStore, Viewer
from geoservice.web.auth import STAFF_KEY

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
REQUEST = {"stops": ["S1"]}
RESULT = {
    "depot": {"name": "大篷车基地"},
    "days": [{"date": "2026-03-02"}],
    "summary": {"days_used": 1, "days_available": 3, "stops_served": 1, "distance_km": 2.5},
    "unserved": [],
}


class Clock:
    """A settable clock."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def where(tmp_path, store_url):
    """Where the plans live: the folder, and a PostgreSQL database's table."""
    return store_url or tmp_path / "tours"


def _store(where, clock: Clock, **kw) -> TourStore:
    return TourStore(where, clock=clock, **kw)


def _names(tours: TourStore) -> builtins.list[str]:
    """The plans' files; in PostgreSQL, the two files each row stands for."""
    if tours.directory is not None:
        return [p.name for p in tours.directory.iterdir()]
    with tours._plans.db.connect() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM tours").fetchall()]
    return [f"{i}{suffix}" for i in ids for suffix in (".json", ".summary.json")]


def _save(tours: TourStore, clock: Clock, owner: str | None = None) -> str:
    clock.now += dt.timedelta(seconds=1)  # ids and ages in order
    return tours.save(REQUEST, RESULT, owner=owner)["id"]


def _age(path, seconds: float = saved.STALE_S + 60) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


# -- eviction ------------------------------------------------------------------------------


def test_anonymous_plans_are_capped_and_never_evict_signed_in_ones(where):
    clock = Clock()
    tours = _store(where, clock, max_anonymous=3)
    mine = [_save(tours, clock, "alice") for _ in range(2)]
    anonymous = [_save(tours, clock) for _ in range(6)]
    more = [_save(tours, clock, "bob") for _ in range(4)]  # never counted against the cap
    assert tours.ids() == sorted(mine + anonymous[-3:] + more)
    assert [tours.get(i)["id"] for i in mine + more] == mine + more
    with pytest.raises(TourNotFoundError):
        tours.get(anonymous[0])
    # The files of the evicted plans are gone, both of them.
    names = set(_names(tours))
    assert not any(n.startswith(anonymous[0]) for n in names)
    assert len(names) == 2 * (len(mine) + 3 + len(more))


def test_anonymous_plans_expire_after_24_hours_signed_in_ones_never(where):
    clock = Clock()
    tours = _store(where, clock)
    anonymous, mine = _save(tours, clock), _save(tours, clock, "alice")
    clock.now += dt.timedelta(hours=23)
    assert tours.ids() == [anonymous, mine]
    assert tours.get(anonymous)["id"] == anonymous
    clock.now += dt.timedelta(hours=1, seconds=1)
    # Past its day: neither listed nor read, and removed at the next save (or read).
    assert tours.ids() == [mine]
    assert tours.count(EVERYONE) == 1
    with pytest.raises(TourNotFoundError):
        tours.get(anonymous)
    assert f"{anonymous}.json" not in _names(tours)
    clock.now += dt.timedelta(days=400)
    assert tours.get(mine)["id"] == mine
    # A restart evicts by the same rules.
    later = _save(tours, clock)
    clock.now += dt.timedelta(days=2)
    TourStore(where, clock=clock)
    assert f"{later}.json" not in _names(tours)
    assert f"{mine}.json" in _names(tours)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # old plans are files
def test_ids_are_unguessable_and_old_ids_still_read(tmp_path, where):
    clock = Clock()
    tours = _store(where, clock)
    ids = {_save(tours, clock) for _ in range(20)}
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{20}", i) for i in ids)
    assert len({i[-20:] for i in ids}) == 20
    # A plan saved before (6 random digits, no summary, no owner) is summarised at start,
    # anonymous, and read by its id.
    old_id = "20260302-170101-a1b2c3"
    record = {"id": old_id, "created": "2026-03-02T17:01:01+08:00", "request": REQUEST}
    (tmp_path / "tours" / f"{old_id}.json").write_text(json.dumps({**record, "result": RESULT}))
    again = _store(where, clock)
    assert old_id in again.ids()
    assert again.get(old_id)["result"] == RESULT
    assert json.loads((tmp_path / "tours" / f"{old_id}.summary.json").read_text())["owner"] is None


# -- who sees what -------------------------------------------------------------------------


def test_a_listing_shows_only_what_the_viewer_may_see(where):
    clock = Clock()
    tours = _store(where, clock)
    anonymous = _save(tours, clock)
    alice = _save(tours, clock, "alice")
    bob = _save(tours, clock, "bob")
    assert tours.list(viewer=ANONYMOUS) == []
    assert tours.count(ANONYMOUS) == 0
    assert [p["id"] for p in tours.list(viewer=Viewer("alice"))] == [alice, anonymous]
    assert [p["id"] for p in tours.list(viewer=Viewer("bob"))] == [bob, anonymous]
    admin = tours.list(viewer=Viewer("root", sees_all=True))
    assert [(p["id"], p["owner"]) for p in admin] == [
        (bob, "bob"),
        (alice, "alice"),
        (anonymous, None),
    ]
    # A plan as served (by its id) does not name its owner.
    assert set(tours.get(alice)) == {"id", "created", "request", "result"}


@pytest.fixture(scope="module")
def staff_app(tmp_path_factory):
    app = _app(tmp_path_factory.mktemp("saved_plans"))
    accounts = app.extensions[STAFF_KEY].accounts
    for name, role in (("alice", "editor"), ("bob", "town_editor"), ("root", "admin")):
        accounts.create(name, role, STAFF_PASSWORD, ("110118001",) if name == "bob" else ())
    return app


def _bearer(app, name: str) -> dict[str, str]:
    token = app.extensions[STAFF_KEY].accounts.issue_token(name)
    return {"Authorization": f"Bearer {token}"}


def _listed(client, headers=None) -> set[tuple[str, str | None]]:
    """(id, owner) of the plans listed (the order: by the second, tested above)."""
    body = client.get("/api/tours?limit=100", headers=headers or {}).get_json()
    assert body["total"] == body["count"] == len(body["plans"])
    return {(p["id"], p["owner"]) for p in body["plans"]}


def test_the_api_keeps_plans_for_their_owner_and_lists_what_a_reader_may_see(staff_app):
    client = staff_app.test_client()
    alice, bob, root = (_bearer(staff_app, n) for n in ("alice", "bob", "root"))
    plan = {"stops": ["S1"]}
    # The same request by each owner: a job and a plan of their own (not one shared).
    by_alice = planned_tour(client, plan, headers=alice).get_json()["id"]
    by_bob = planned_tour(client, plan, headers=bob).get_json()["id"]
    anonymous = planned_tour(client, plan).get_json()["id"]
    # A page session owns its plans too (the caravan page posts without a token).
    session = staff_app.test_client()
    carol = login_as(staff_app, session, "editor", name="carol")
    by_carol = planned_tour(session, plan).get_json()["id"]
    assert len({by_alice, by_bob, anonymous, by_carol}) == 4
    # Anonymous readers see no list; everyone reads a plan by its id.
    assert _listed(client) == set()
    for plan_id in (by_alice, by_bob, anonymous, by_carol):
        assert client.get(f"/api/tours/{plan_id}").status_code == 200
        assert client.get(f"/api/tours/{plan_id}.gpx").status_code == 200
    assert _listed(client, alice) == {(anonymous, None), (by_alice, "alice")}
    assert _listed(client, bob) == {(anonymous, None), (by_bob, "bob")}
    assert _listed(session) == {(by_carol, carol.name), (anonymous, None)}
    assert _listed(client, root) == {
        (by_carol, "carol"),
        (anonymous, None),
        (by_bob, "bob"),
        (by_alice, "alice"),
    }
    # An invalid token is refused, as by the write API, not taken for anonymous.
    r = client.post("/api/tours", json=plan, headers={"Authorization": "Bearer nope"})
    assert_bilingual_error(r, 401, "Authorization")
    r = client.get("/api/tours", headers={"Authorization": "Bearer nope"})
    assert_bilingual_error(r, 401, "Authorization")


# -- killed saves --------------------------------------------------------------------------


class Killed(BaseException):
    """The process killed at this point (nothing after it runs, no cleanup)."""


def _kill_at(monkeypatch, target, name: str, call: int) -> None:
    """Kill the process at the ``call``-th call of ``target.name``."""
    real = getattr(target, name)
    calls = []

    def cut(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, cut)


def _consistent(tours: TourStore) -> list[str]:
    """The listing's count is what it shows, and every listed plan reads whole."""
    ids = tours.ids()
    listed = tours.list(limit=1000)
    assert tours.count() == len(listed) == len(ids)
    assert [p["id"] for p in listed] == ids[::-1]
    for plan_id in ids:
        assert tours.get(plan_id)["result"] == RESULT
    return ids


@pytest.mark.parametrize(
    ("target", "name", "call"),
    [
        (saved, "_write", 1),  # before the summary
        (saved, "_write", 2),  # between the summary and the plan
        (os, "replace", 1),  # the summary's temporary file written, not renamed
        (os, "replace", 2),  # the plan's temporary file written, not renamed
        (os, "fsync", 2),  # the summary written, fsync of its folder
    ],
)
def test_a_save_killed_at_any_point_leaves_nothing_or_the_whole_plan(
    tmp_path, monkeypatch, target, name, call
):
    clock = Clock()
    tours = _store(tmp_path / "tours", clock)
    kept = _save(tours, clock, "alice")
    with monkeypatch.context() as m:
        _kill_at(m, target, name, call)
        with pytest.raises(Killed):
            _save(tours, clock)
    assert _consistent(tours) == [kept]
    left = sorted(p.name for p in (tmp_path / "tours").iterdir())
    # A restart at once keeps what may be another process's save in progress...
    assert sorted(p.name for p in (tmp_path / "tours").iterdir()) == left
    assert _consistent(_store(tmp_path / "tours", clock)) == [kept]
    # ...and removes it once it is older than any save takes.
    for p in (tmp_path / "tours").iterdir():
        _age(p)
    assert _consistent(_store(tmp_path / "tours", clock)) == [kept]
    assert sorted(p.name for p in (tmp_path / "tours").iterdir()) == [
        f"{kept}.json",
        f"{kept}.summary.json",
    ]


def test_a_removal_killed_halfway_leaves_no_plan_without_its_summary(tmp_path, monkeypatch):
    clock = Clock()
    tours = _store(tmp_path / "tours", clock, max_anonymous=1)
    first = _save(tours, clock)
    calls = []
    real = type(tmp_path).unlink

    def unlink(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 2:
            raise Killed
        return real(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(type(tmp_path), "unlink", unlink)
        with pytest.raises(Killed):
            _save(tours, clock)  # evicts the first: its plan goes, then its summary
    assert calls[0] == f"{first}.json"
    assert len(_consistent(tours)) == 1
    assert first not in tours.ids()


def test_stale_temporary_files_are_removed_at_start(tmp_path):
    folder = tmp_path / "tours"
    folder.mkdir()
    stale = folder / ".20260302-090000-aaaa.json.123.beef.tmp"
    fresh = folder / ".20260302-090001-bbbb.json.456.f00d.tmp"
    for p in (stale, fresh):
        p.write_bytes(b'{"half": ')
    _age(stale)
    TourStore(folder)
    assert not stale.exists()
    assert fresh.exists()  # maybe another process's save, now


def test_a_save_killed_in_postgresql_leaves_nothing(pg_url, monkeypatch):
    from geoservice.admin.db import PgConnection

    clock = Clock()
    tours = _store(pg_url, clock)
    kept = _save(tours, clock, "alice")
    real = PgConnection.execute

    def cut(self, sql, *args):
        if sql == "COMMIT":
            raise Killed  # inserted, never committed: the connection just goes
        return real(self, sql, *args)

    with monkeypatch.context() as m:
        m.setattr(PgConnection, "execute", cut)
        with pytest.raises(Killed):
            _save(tours, clock)
    assert _consistent(tours) == [kept]
    assert _consistent(_store(pg_url, clock)) == [kept]


def _save_many(url: str, owner: str, n: int) -> None:
    tours = TourStore(url, max_anonymous=1)
    for _ in range(n):
        tours.save(REQUEST, RESULT, owner=owner)
        tours.save(REQUEST, RESULT)  # anonymous: each save evicts the one before


def test_two_processes_saving_at_once_lose_nothing(pg_url):
    n = 15
    # Forked: the parent's store (and its module state) is carried over, connections not.
    TourStore(pg_url)
    run_forked(_save_many, [(pg_url, o, n) for o in ("a", "b")])
    tours = TourStore(pg_url, max_anonymous=1)
    owners = [p["owner"] for p in tours.list(limit=1000)]
    assert sorted(owners, key=str) == [None] + ["a"] * n + ["b"] * n
