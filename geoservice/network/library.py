"""The networks a service uses: the active source file, its per-mode caches, imports, and
the engines that follow it.

Built networks (a folder of memory-mapped ``.npy`` files per mode) and the source's
``place=*`` table (an ``.npz`` file) are cached under keys made of the source's SHA-256 and
the build version; a missing or corrupt cache is rebuilt. One
:class:`Network` per mode is held in memory and shared by every engine; an engine made
from them is a :class:`Watched` value, made again when the active source changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoservice.errors import NetworkError
from geoservice.model import CRS_STORAGE
from geoservice.network import osm
from geoservice.network.builder import BUILD_VERSION, build, build_from_osm, graph_xy
from geoservice.network.graph import MODES, Network, tmp_name

if TYPE_CHECKING:
    from geoservice.jobs.capped import Progress

log = logging.getLogger(__name__)
T = TypeVar("T")

# -- sources and caching --------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """SHA-256 of a file (the cache key of networks built from it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_path(cache_dir: Path, source: Path, mode: str, digest: str | None = None) -> Path:
    """Where the network of ``mode`` (or the ``places`` table) built from ``source`` is
    cached."""
    digest = digest or file_digest(source)
    suffix = ".npz" if mode == "places" else ""  # a network is a folder (Network.save)
    return Path(cache_dir) / f"{digest[:16]}-v{BUILD_VERSION}-{mode}{suffix}"


def save_places(places: pd.DataFrame, path: Path, meta: dict) -> None:
    """Write a places table (:func:`osm.places_frame`) and its metadata to ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path, ".npz")
    arrays = {
        c: places[c].to_numpy(dtype=str if c not in ("osmid", "lon", "lat") else None)
        for c in osm.PLACE_COLUMNS
    }
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def load_places(path: Path) -> tuple[pd.DataFrame, dict]:
    """Read a table written by :func:`save_places`; raise :class:`NetworkError` if unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            frame = osm.places_frame(
                [dict(zip(osm.PLACE_COLUMNS, row, strict=True))
                 for row in zip(*(z[c].tolist() for c in osm.PLACE_COLUMNS), strict=True)]
            )  # fmt: skip
    except Exception as exc:  # zipfile, ValueError, KeyError, OSError...
        msg = f"places cache {path} is unreadable: {exc}"
        raise NetworkError(msg) from exc
    return frame, meta


@dataclass
class Built:
    """Everything built from one source file: the networks, its places, what was cut."""

    networks: dict[str, Network]
    places: pd.DataFrame
    meta: dict


def _effective_clip(
    clip: shapely.Geometry | None, xy: np.ndarray
) -> tuple[shapely.Geometry | None, bool]:
    """The clip to apply, and whether the source lies wholly outside it (kept whole)."""
    if clip is None or not len(xy):
        return None, False
    if not shapely.contains_xy(clip, xy[:, 0], xy[:, 1]).any():
        return None, True  # an extract from elsewhere: keep it whole
    return clip, False


def build_source(
    source: Path,
    modes: tuple[str, ...] = MODES,
    *,
    clip: shapely.Geometry | None = None,
    label: str | None = None,
    progress: Progress | None = None,
) -> Built:
    """Read ``source`` once and build the networks of ``modes`` (none: only the places)
    and its places table.

    OSM files go through :func:`osm.read_osm` and :func:`build_from_osm`; GraphML files
    through osmnx and :func:`build`. ``clip`` is applied only when the source touches it.
    ``progress(step, done, total)`` is told the steps: ``"read"`` (highway ways read so
    far; total 0 until the end, see :func:`osm.read_osm`), ``"graph"``, then per mode
    ``"build:<mode>"`` and ``"simplify:<mode>"`` (see :func:`build_from_osm`; a GraphML
    file's modes only ``"build:<mode>"``).
    """
    source = Path(source)
    label = label or source.name
    report = progress or (lambda step, done, total: None)
    if osm.source_kind(source) == "graphml":
        report("read", 0, 0)
        G = osm.read_graph(source, name=label)
        xs, ys = graph_xy(G)
        clip, outside = _effective_clip(clip, np.column_stack([xs, ys]))
        nets = {}
        for m in modes:
            report(f"build:{m}", 0, 1)
            nets[m] = build(G, m, source=label, clip=clip)
        places = osm.places_frame([])
        meta = {"source": label, "schematic": False}
    else:
        data = osm.read_osm(source, name=label, progress=report)
        clip, outside = _effective_clip(clip, data.node_xy)
        nets = build_from_osm(data, modes, source=label, clip=clip, progress=report)
        places = data.places
        if clip is not None and len(places):
            places = places[shapely.contains_xy(clip, places["lon"], places["lat"])]
            places = places.reset_index(drop=True)
        meta = {"source": label, "schematic": data.schematic} | data.report()
        meta["places"] = len(places)
    for net in nets.values():
        net.meta["outside_district"] = outside
    meta["outside_district"] = outside
    return Built(nets, places, meta)


def load_networks(
    source: Path,
    cache_dir: Path,
    *,
    modes: tuple[str, ...] = MODES,
    clip: shapely.Geometry | None = None,
) -> dict[str, Network]:
    """Networks for ``modes`` built from ``source``, from the cache when it is valid.

    A missing, stale or corrupt cache file is rebuilt (and logged), never fatal. A build
    also caches the source's places table.
    """
    source = Path(source)
    digest = file_digest(source)
    out: dict[str, Network] = {}
    missing = []
    for mode in modes:
        path = cache_path(cache_dir, source, mode, digest)
        if path.exists():
            try:
                out[mode] = Network.load(path)
                continue
            except NetworkError as exc:
                log.warning("%s; rebuilding", exc)
        missing.append(mode)
    if missing:
        log.info("building %s network(s) from %s", ", ".join(missing), source.name)
        built = build_source(source, tuple(missing), clip=clip)
        _save(built, cache_dir, source, digest)
        out.update(built.networks)
    return {m: out[m] for m in modes}


def _save(
    built: Built, cache_dir: Path, source: Path, digest: str, progress: Progress | None = None
) -> None:
    """Write the networks and the places table to the cache; ``progress("save", done,
    total)`` before each of the ``total`` files."""
    report = progress or (lambda step, done, total: None)
    total = len(built.networks) + 1
    for done, (mode, net) in enumerate(built.networks.items()):
        report("save", done, total)
        net.save(cache_path(cache_dir, source, mode, digest))
    report("save", total - 1, total)
    save_places(built.places, cache_path(cache_dir, source, "places", digest), built.meta)


class NetworkLibrary:
    """The road networks a service uses: the active source, its per-mode caches, imports.

    Layout of ``directory`` (the Flask instance's ``networks/`` folder)::

        active.json        {"source": "<file name in sources/>"}; absent → the default
        sources/           imported or downloaded extracts
        cache/             built networks and place tables,
                           ``<digest>-v<version>-<mode|places>.npz``

    Parameters
    ----------
    directory : Path
        Where imports and caches live (created on demand).
    default_source : Path
        The shipped network (the schematic Miyun network).
    clip : shapely geometry or callable, optional
        District polygon (WGS84), or a function giving the current one (the district may be
        set up again while the service runs). Extracts that reach beyond it are clipped to
        it (buffered by ~1 km so border roads stay whole); extracts that do not touch it at
        all are kept whole and flagged.
    """

    def __init__(
        self,
        directory: Path,
        default_source: Path,
        clip: shapely.Geometry | Callable[[], shapely.Geometry | None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.default_source = Path(default_source)
        self._clip = clip
        self._buffered: tuple[shapely.Geometry, shapely.Geometry] | None = None
        self._places: tuple[str, gpd.GeoDataFrame] | None = None  # (token, table)
        # The loaded networks of the active source, shared by every engine: (token, nets).
        self._nets: tuple[str, dict[str, Network]] | None = None
        self._nets_lock = threading.Lock()
        # (stat of active.json, the source it names), read again when the stat changes.
        self._marker = str(self.directory / "active.json")
        self._active: tuple[tuple[int, int, int], Path] | None = None

    @property
    def clip(self) -> shapely.Geometry | None:
        """The district polygon buffered by ~1 km (0.01°), or None; buffered once per
        polygon."""
        clip = self._clip() if callable(self._clip) else self._clip
        if clip is None:
            return None
        if self._buffered is None or self._buffered[0] is not clip:
            self._buffered = (clip, shapely.buffer(clip, 0.01))
        return self._buffered[1]

    @property
    def cache_dir(self) -> Path:
        return self.directory / "cache"

    def active_source(self) -> Path:
        """The file the networks are built from."""
        return self._active_file()[0]

    def token(self) -> str:
        """Changes whenever the active source changes (for reloading)."""
        src, st = self._active_file()
        if st is None:
            msg = f"road network file is missing: {src}"
            raise NetworkError(msg)
        return f"{src}:{st.st_mtime_ns}:{st.st_size}"

    def _active_file(self) -> tuple[Path, os.stat_result | None]:
        """The active source and its ``stat`` (None when it is missing).

        Every routing answer asks (another process may have switched the network): this
        costs two ``stat`` calls, as ``active.json`` is read again only when its inode, size
        or time changes (it is always replaced whole, :meth:`_activate`).
        """
        named = self._named_source()
        if named is not None:
            try:
                st = named.stat()
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                return named, st
        try:
            return self.default_source, self.default_source.stat()
        except OSError:
            return self.default_source, None

    def _named_source(self) -> Path | None:
        """The file ``active.json`` names (None: absent or unreadable)."""
        try:
            st = os.stat(self._marker)
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        seen = self._active
        if seen is None or seen[0] != stamp:
            try:
                name = str(json.loads(Path(self._marker).read_text())["source"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
            seen = self._active = (stamp, self.directory / "sources" / name)
        return seen[1]

    def load(self, modes: tuple[str, ...] = MODES) -> dict[str, Network]:
        """Networks of the active source (from the cache when valid).

        The same :class:`Network` objects are handed to every caller until the active
        source changes, so the routing, tour and coverage engines share one copy in memory.
        """
        token = self.token()
        with self._nets_lock:
            held = self._nets[1] if self._nets is not None and self._nets[0] == token else {}
            missing = tuple(m for m in modes if m not in held)
            if missing:
                source = self.active_source()
                held = held | load_networks(
                    source, self.cache_dir, modes=missing, clip=self._clip_for(source)
                )
                self._nets = (token, held)
        return {m: held[m] for m in modes}

    def places(self) -> gpd.GeoDataFrame:
        """The ``place=*`` nodes (villages, neighbourhoods …) of the active source.

        Returns
        -------
        GeoDataFrame
            Columns of :func:`osm.places_frame` with point geometry (WGS84); empty for a
            GraphML or downloaded network. ``attrs`` holds ``source``, ``schematic`` and
            ``outside_district``.
            Clipped to the district like the networks. Cached beside the networks (and in
            memory until the active source changes); a copy is returned.
        """
        token = self.token()
        if self._places is not None and self._places[0] == token:
            return self._places[1].copy()
        source = self.active_source()
        digest = file_digest(source)
        path = cache_path(self.cache_dir, source, "places", digest)
        try:
            frame, meta = load_places(path)
        except NetworkError as exc:
            if path.exists():
                log.warning("%s; rebuilding", exc)
            built = build_source(source, (), clip=self._clip_for(source))  # places only
            _save(built, self.cache_dir, source, digest)
            frame, meta = built.places, built.meta
        gdf = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=CRS_STORAGE
        )
        gdf.attrs.update(
            source=meta.get("source", source.name),
            schematic=meta.get("schematic"),
            outside_district=bool(meta.get("outside_district", False)),
        )
        self._places = (token, gdf)
        return gdf.copy()

    def outside_district(self) -> bool:
        """Whether the active network lies wholly outside the district (an extract from
        elsewhere, kept whole: ``meta["outside_district"]``); never the shipped network.
        Read from the places cache an import writes, so it costs no network load."""
        if self.active_source() == self.default_source:
            return False
        return bool(self.places().attrs.get("outside_district"))

    def _clip_for(self, source: Path) -> shapely.Geometry | None:
        if source == self.default_source:
            return None
        return self.clip

    def import_file(self, path: Path, progress: Progress | None = None) -> dict[str, Network]:
        """Build every mode from ``path`` and, if that works, make it the active source.

        All or nothing: a file that cannot be read or has no roads for some mode leaves
        the active network unchanged. The networks' ``meta`` says how many node references
        a clipped extract lacked (``dropped_refs``) and how many ways were cut there.

        Until the switch (one rename of ``active.json``) every process goes on answering
        from the networks it has: nothing it uses is written. ``progress(step, done,
        total)`` is told ``"copy"`` (the file is copied beside the other sources), the
        steps of :func:`build_source` and ``"save"`` (see :func:`_save`).
        """
        path = Path(path)
        osm.source_kind(path)  # clear error for an unsupported extension
        sources = self._sources()
        # The temporary copy keeps the real suffix: the reader picks the format by it.
        tmp = sources / f".tmp-{path.name}"
        if progress is not None:
            progress("copy", 0, 1)
        shutil.copyfile(path, tmp)
        return self._install(tmp, sources / path.name, progress)

    def fetch(self, place: str, timeout: float = 20.0) -> dict[str, Network]:
        """Download ``place`` with osmnx, save it as GraphML and make it active."""
        G = osm.fetch_graph(place, timeout=timeout)
        sources = self._sources()
        safe = re.sub(r"[^\w.-]+", "_", place).strip("_") or "place"
        tmp = sources / f".tmp-{safe}.graphml"
        import osmnx as ox  # 0.9 s with its imports: only for a download

        ox.save_graphml(G, tmp)
        return self._install(tmp, sources / f"{safe}.graphml")

    def _sources(self) -> Path:
        sources = self.directory / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        return sources

    def _install(
        self, tmp: Path, target: Path, progress: Progress | None = None
    ) -> dict[str, Network]:
        """Build every mode from the file at ``tmp`` and, if that works, make it the
        active source as ``target``; else remove it (all or nothing)."""
        try:
            built = build_source(tmp, clip=self.clip, label=target.name, progress=progress)
            _save(built, self.cache_dir, tmp, file_digest(tmp), progress)
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        self._activate(tmp, target)
        return built.networks

    def _activate(self, tmp: Path, target: Path) -> None:
        tmp.replace(target)
        active = self.directory / "active.json"
        tmp_active = active.with_name(".active.json.tmp")
        tmp_active.write_text(json.dumps({"source": target.name}))
        tmp_active.replace(active)

    def reset(self) -> None:
        """Go back to the shipped default network."""
        (self.directory / "active.json").unlink(missing_ok=True)


class Watched(Generic[T]):
    """A value made from the active networks (an engine), made again when they change.

    The one place that notices a change of the active source (``flask network import``):
    the routing, coverage and tour engines are each held by one.

    Parameters
    ----------
    library : NetworkLibrary
        The road networks.
    make : callable
        ``make(networks, previous)``: the value for the shared networks of ``modes``
        (:meth:`NetworkLibrary.load`), given the value it replaces (None at first). Called
        under a lock, once per active source; returning None keeps ``previous`` in use
        and asks again on the next :meth:`get`.
    modes : tuple of str
        The modes the value needs.
    """

    def __init__(
        self,
        library: NetworkLibrary,
        make: Callable[[dict[str, Network], T | None], T | None],
        modes: tuple[str, ...] = MODES,
    ) -> None:
        self.library = library
        self.modes = modes
        self._make = make
        self._lock = threading.Lock()
        self._token: str | None = None
        self._value: T | None = None

    def get(self) -> T:
        """The value for the active source, made on first use (thread-safe).

        Raises
        ------
        NetworkError
            When nothing has been made and the networks cannot be loaded; and whatever
            ``make`` raises.
        """
        token = self.library.token()
        if token != self._token:
            with self._lock:
                if token != self._token:
                    value = self._make(self.library.load(self.modes), self._value)
                    if value is not None:
                        self._value, self._token = value, token
        if self._value is None:
            msg = "no value was made for the active road network"
            raise NetworkError(msg)
        return self._value

    @property
    def built(self) -> T | None:
        """The value made so far, if any (never makes one)."""
        return self._value

    def current(self) -> bool:
        """Whether the value made so far is the active source's."""
        return self._value is not None and self._token == self.library.token()
