"""Cached JSON answers of the expensive API operations: bytes, gzip, ``ETag`` and 304.

A coverage answer costs from a fraction of a second to many seconds and a suggestion of new
sites several seconds, and the same few answers are asked for again and again (the
``/coverage`` page switching back to a mode, several people looking at the same view).
Such an answer depends only on the *parsed* request, the store revision and the active
road network, so it is kept as bytes — plain and gzip-compressed, a few MB of GeoJSON
shrink about fivefold — under an entity tag made of those three, in files
(``instance/answers/``) that every web process and job worker of the instance shares:

* a request whose ``If-None-Match`` holds the tag gets a ``304 Not Modified`` at once,
  without anything being computed or sent (``Cache-Control: no-cache``: browsers keep the
  answer and revalidate it each time, so an edited station shows at the next request);
* a request for a cached answer gets the stored bytes;
* otherwise a job computes it off the request path (:mod:`geoservice.jobs`): the request
  is answered ``202 Accepted`` with the job to follow, whose result links back here.

The cache keeps the most recently used answers up to a byte budget
(``COVERAGE_CACHE_BYTES``, default 64 MB, on disk: no process's memory grows with it). The
tag is weak (``W/"…"``): the plain and the gzip bytes are the same answer.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Response, current_app, request

from geoservice import __version__

if TYPE_CHECKING:
    from geoservice.jobs import Job

__all__ = ["ANSWERS_KEY", "DEFAULT_MAX_BYTES", "AnswerCache", "build", "get_cache", "send", "tag"]

ANSWERS_KEY = "geoservice.answers"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Answers shorter than this are sent uncompressed (gzip would gain nothing).
_GZIP_MIN_BYTES = 1024
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class _Answer:
    raw: bytes
    gz: bytes | None

    @property
    def size(self) -> int:
        return len(self.raw) + len(self.gz or b"")


class AnswerCache:
    """The most recently used answers, by entity tag, up to ``max_bytes``, as files in
    ``directory`` (safe across threads and processes: files are replaced atomically).

    Parameters
    ----------
    directory : str or Path
        Where the answers are kept (created on first use).
    max_bytes : int
        Budget of the stored bytes (plain and compressed); 0 stores nothing.
    """

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def _files(self) -> list[os.DirEntry]:
        try:
            return [e for e in os.scandir(self.directory) if e.name.endswith((".json", ".gz"))]
        except FileNotFoundError:
            return []

    @property
    def size(self) -> int:
        """Bytes stored."""
        total = 0
        for entry in self._files():
            try:
                total += entry.stat().st_size
            except FileNotFoundError:  # pruned by another process meanwhile
                continue
        return total

    def has(self, tag: str) -> bool:
        """Whether the answer ``tag`` is kept."""
        return (self.directory / f"{tag}.json").exists()

    def get(self, tag: str) -> _Answer | None:
        """The answer ``tag``, or None; marks it recently used."""
        path = self.directory / f"{tag}.json"
        try:
            raw = path.read_bytes()
            os.utime(path)  # recently used: the last to be pruned
        except FileNotFoundError:
            return None
        try:
            gz: bytes | None = (self.directory / f"{tag}.gz").read_bytes()
        except FileNotFoundError:
            gz = None
        return _Answer(raw, gz)

    def put(self, tag: str, raw: bytes) -> _Answer:
        """Keep ``raw`` (and its gzip) under ``tag``, then drop the least recently used
        answers beyond the budget. An answer larger than the budget is not kept."""
        gz = gzip.compress(raw, _GZIP_LEVEL, mtime=0) if len(raw) >= _GZIP_MIN_BYTES else None
        answer = _Answer(raw, gz)
        if answer.size > self.max_bytes:
            return answer
        self.directory.mkdir(parents=True, exist_ok=True)
        if gz is not None:  # the plain file last: its presence means the answer is whole
            _write(self.directory / f"{tag}.gz", gz)
        _write(self.directory / f"{tag}.json", raw)
        with self._lock:
            self._prune(keep=tag)
        return answer

    def _prune(self, keep: str) -> None:
        entries = []
        for entry in self._files():
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, entry.name, st.st_size))
        total = sum(size for _, _, size in entries)
        for _, name, size in sorted(entries):  # oldest first
            if total <= self.max_bytes:
                break
            if name.rsplit(".", 1)[0] == keep:
                continue
            with contextlib.suppress(FileNotFoundError):  # removed by another process
                (self.directory / name).unlink()
            total -= size


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # removed by another process
            os.unlink(tmp)
        raise


def tag(key: str) -> str:
    """The entity tag of the answer to ``key`` for the current app's store revision and road
    network (and this version of the service)."""
    from geoservice.web import get_library, get_store

    state = "\x1f".join(
        (__version__, get_store().location(), get_store().revision(), get_library().token(), key)
    )
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def get_cache() -> AnswerCache:
    """The current app's answer cache."""
    return current_app.extensions[ANSWERS_KEY]


def build(answer_tag: str, compute: Callable[[], dict]) -> None:
    """Compute an answer and keep it under ``answer_tag`` (what a coverage job does)."""
    # allow_nan=False: NaN is no JSON; a figure that is one is a bug, not an answer.
    raw = json.dumps(compute(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    get_cache().put(answer_tag, raw.encode())


def send(key: str, submit: Callable[[str], Job]) -> Response:
    """Answer the current request with the cached answer to ``key``, or with the job that
    computes it.

    Parameters
    ----------
    key : str
        Canonical text of the parsed request (the operation's name included): equal keys
        must have equal answers for the same store revision and road network.
    submit : callable
        ``submit(tag) -> Job``: the job that computes the answer and keeps it under
        ``tag`` (called only when it is not cached).

    Returns
    -------
    Response
        200 with the JSON (gzip when the client accepts it), or 304; else the job's answer
        (202 with ``Location``, or the job's error when it failed at once).
    """
    cache = get_cache()
    answer_tag = tag(key)
    if request.if_none_match.contains_weak(answer_tag):
        # JSON like the answer it stands for (and so with the API's security headers).
        response = Response(status=304, mimetype="application/json")
    else:
        answer = cache.get(answer_tag)
        if answer is None:
            job = submit(answer_tag)
            answer = cache.get(answer_tag) if job.state == "done" else None
            if answer is None:
                from geoservice.web.jobs import job_answer

                return job_answer(job)
        if answer.gz is not None and request.accept_encodings["gzip"] > 0:
            response = Response(answer.gz, mimetype="application/json")
            response.content_encoding = "gzip"
        else:
            response = Response(answer.raw, mimetype="application/json")
    response.set_etag(answer_tag, weak=True)
    response.cache_control.no_cache = True
    response.vary.add("Accept-Encoding")
    return response
