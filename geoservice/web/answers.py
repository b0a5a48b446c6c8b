"""Cached JSON answers of the expensive API operations: bytes, gzip, ``ETag`` and 304.

A coverage answer costs from a fraction of a second to a few seconds and a suggestion of
new sites several seconds, and the same few answers are asked for again and again (the
``/coverage`` page switching back to a mode, several people looking at the same view).
Such an answer depends only on the *parsed* request, the store revision and the active
road network, so it is kept here as bytes — plain and gzip-compressed, a few MB of GeoJSON
shrink about fivefold — under an entity tag made of those three:

* a request whose ``If-None-Match`` holds the tag gets a ``304 Not Modified`` at once,
  without anything being computed or sent (``Cache-Control: no-cache``: browsers keep the
  answer and revalidate it each time, so an edited station shows at the next request);
* a request for a cached answer gets the stored bytes;
* otherwise the answer is computed, stored and sent.

The cache keeps the most recently used answers up to a byte budget
(``COVERAGE_CACHE_BYTES``, default 64 MB), so no sequence of requests can grow it beyond
that. The tag is weak (``W/"…"``): the plain and the gzip bytes are the same answer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, request

from geoservice import __version__

__all__ = ["ANSWERS_KEY", "DEFAULT_MAX_BYTES", "AnswerCache", "send"]

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
    """The most recently used answers, by entity tag, up to ``max_bytes`` (thread-safe).

    Parameters
    ----------
    max_bytes : int
        Budget of the stored bytes (plain and compressed); 0 stores nothing.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, _Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes stored."""
        return self._bytes

    def get(self, tag: str) -> _Answer | None:
        with self._lock:
            hit = self._items.get(tag)
            if hit is not None:
                self._items.move_to_end(tag)
            return hit

    def put(self, tag: str, raw: bytes) -> _Answer:
        gz = gzip.compress(raw, _GZIP_LEVEL, mtime=0) if len(raw) >= _GZIP_MIN_BYTES else None
        answer = _Answer(raw, gz)
        with self._lock:
            old = self._items.pop(tag, None)
            if old is not None:
                self._bytes -= old.size
            if answer.size <= self.max_bytes:
                self._items[tag] = answer
                self._bytes += answer.size
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.size
        return answer


def _tag(key: str) -> str:
    from geoservice.web import get_library, get_store

    state = "\x1f".join(
        (__version__, get_store().location(), get_store().revision(), get_library().token(), key)
    )
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def send(key: str, build: Callable[[], dict]) -> Response:
    """Answer the current request with the JSON of ``build()``, cached under ``key``.

    Parameters
    ----------
    key : str
        Canonical text of the parsed request (the operation's name included): equal keys
        must have equal answers for the same store revision and road network.
    build : callable
        Computes the answer (called only when it is not cached).

    Returns
    -------
    Response
        200 with the JSON (gzip when the client accepts it), or 304.
    """
    cache: AnswerCache = current_app.extensions[ANSWERS_KEY]
    tag = _tag(key)
    if request.if_none_match.contains_weak(tag):
        # JSON like the answer it stands for (and so with the API's security headers).
        response = Response(status=304, mimetype="application/json")
    else:
        answer = cache.get(tag)
        if answer is None:
            # allow_nan=False: NaN is no JSON; a figure that is one is a bug, not an answer.
            raw = json.dumps(
                build(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()
            answer = cache.put(tag, raw)
        if answer.gz is not None and request.accept_encodings["gzip"] > 0:
            response = Response(answer.gz, mimetype="application/json")
            response.content_encoding = "gzip"
        else:
            response = Response(answer.raw, mimetype="application/json")
    response.set_etag(tag, weak=True)
    response.cache_control.no_cache = True
    response.vary.add("Accept-Encoding")
    return response
