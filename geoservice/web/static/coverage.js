/*
 * /coverage — how much of the district's roads the warm stations (暖心驿站) reach, against the
 * ACFTU standard (1 km service radius, 15-minute walk), where the gaps are and where new
 * stations would close most of them.
 *
 * Plain ES2017, no framework, no CDN; built on common.js (window.geoservice), whose rules
 * for data apply: every value from the API (station, town, village names, notices,
 * messages) reaches the page as cut, bidi-isolated text or as an element given to Leaflet
 * (tooltips are DOM nodes, never HTML strings).
 *
 * Data: GET /api/coverage (areas by threshold with cross-coverage, uncovered roads,
 * counted stations and the figures; catchments on demand with layer=catchments) and
 * GET /api/coverage/suggest (new sites). Answers are cached by the server and revalidated
 * by the browser (ETag), so switching back to a view is immediate.
 */
(function () {
  "use strict";

  var gs = window.geoservice;
  var { h, dataText, clear, notice, t } = gs;

  var cfg = gs.pageConfig("coverage-config");
  var NAME_MAX = gs.limits.name;
  var TEXT_MAX = gs.limits.text;
  var COLORS = cfg.colors || {};
  var AREA_COLORS = COLORS.areas || ["#1a9850", "#91cf60", "#d9ef8b"];
  var MODES = cfg.modes || [];
  var GAPS_SHOWN = 10;
  var VILLAGES_SHOWN = 50;
  var TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/;

  var el = {};
  var sheet = null; // the result sheet's folding (gs.sheet)
  var state = {
    map: null,
    mode: cfg.default_mode || "walk",
    minutes: {}, // mode → chosen threshold
    time: "all", // all | now | at
    at: "", // YYYY-MM-DDTHH:MM (Asia/Shanghai) for time = at
    kinds: (cfg.default_kinds || ["warm_station"]).slice(),
    show: { areas: true, cross: true, catchments: false, uncovered: true, villages: true,
      stations: true },
    data: null, // the current /api/coverage answer
    catchments: null, // { key, data }
    suggestion: null,
    layers: {}, // name → Leaflet layer
    seq: 0,
    controller: null,
    catchSeq: 0,
    suggestSeq: 0,
    sortKey: null,
    sortDir: 1,
    tableRows: [],
    tableDistrict: null,
    tableHidden: 0,
  };
  MODES.forEach(function (m) { state.minutes[m.key] = m.default; });

  // -- small helpers ---------------------------------------------------------------------

  function pct(share) {
    return typeof share === "number" && isFinite(share) ? (100 * share).toFixed(1) + "%" : "—";
  }

  function km(value) {
    if (typeof value !== "number" || !isFinite(value)) return "—";
    return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  }

  function num(value) {
    return typeof value === "number" && isFinite(value) ? String(value) : "—";
  }

  function modeSpec(key) {
    for (var i = 0; i < MODES.length; i += 1) if (MODES[i].key === key) return MODES[i];
    return MODES[0] || { key: "walk", label: t("步行"), minutes: [5, 10, 15], default: 15 };
  }

  // The thresholds a view asks for: every offered one up to the chosen one (graduated).
  function thresholds() {
    var spec = modeSpec(state.mode);
    var chosen = state.minutes[state.mode];
    var list = spec.minutes.filter(function (m) { return m <= chosen; });
    return list.length ? list : [chosen];
  }

  function areaColor(index) {
    return AREA_COLORS[index % AREA_COLORS.length];
  }

  // Shanghai wall time (China has no daylight saving time): YYYY-MM-DDTHH:MM.
  function shanghaiNow() {
    return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 16);
  }

  function openAt() {
    if (state.time === "now") return shanghaiNow();
    if (state.time === "at" && TIME_PATTERN.test(state.at)) return state.at;
    return null;
  }

  function timeLabel() {
    var at = openAt();
    if (state.time === "now" && at) return t("现在（{time}）开放的站点", { time: at.slice(11) });
    if (state.time === "at" && at) return t("{time} 开放的站点", { time: at.replace("T", " ") });
    return t("全部站点（不论开放时间）");
  }

  // -- status, notices, errors -------------------------------------------------------------

  function setStatus(text, kind) {
    gs.setStatus(el.status, text, kind);
  }

  // Short names of the caveats the figures carry (the full text is one tap away).
  var NOTE_LABELS = {
    schematic_network: t("示意路网"),
    sample_stations: t("示例站点"),
    towns_approximate: t("乡镇数据为近似"),
    schematic_villages: t("村庄为示意位置"),
    no_villages: t("尚无村庄坐标"),
  };
  var NOTE_WARN = ["schematic_network", "sample_stations"];

  // The notices of an answer as one compact box: their short names, the texts inside.
  function showNotes(notes) {
    if (!notes.length) return;
    var warn = notes.some(function (n) { return NOTE_WARN.indexOf(n.code) >= 0; });
    var box = h("details", "notice cov-notes notice-" + (warn ? "warn" : "info"));
    var english = gs.lang() === "en";
    var names = notes.map(function (n) { return NOTE_LABELS[n.code] || (english ? n.en : n.zh); });
    var summary = h("summary", "cov-notes-summary");
    summary.appendChild(h("strong", null, t("数据说明：")));
    summary.appendChild(dataText("span", null, names.join(" · "), TEXT_MAX));
    box.appendChild(summary);
    notes.forEach(function (n) {
      var item = h("p", "cov-note");
      item.appendChild(dataText("span", null, english ? n.en : n.zh, TEXT_MAX * 2));
      item.appendChild(dataText("span", "notice-detail", english ? n.zh : n.en, TEXT_MAX * 2));
      box.appendChild(item);
    });
    el.notices.appendChild(box);
  }

  function setBusy(busy, text) {
    document.body.classList.toggle("is-busy", busy);
    el.sheet.setAttribute("aria-busy", busy ? "true" : "false");
    if (el.loading) {
      el.loading.hidden = !busy;
      el.loading.textContent = text || t("正在计算覆盖…");
    }
  }

  function errorText(status, body) {
    if (status === 503) {
      return [t("路网暂不可用，无法计算覆盖"), gs.apiMessage(body)[0] || t("请稍后重试。")];
    }
    return gs.errorText(status, body);
  }

  // -- URL state (a view can be shared or bookmarked) -------------------------------------

  function readUrl() {
    var q = new URLSearchParams(window.location.search);
    var mode = q.get("mode");
    if (MODES.some(function (m) { return m.key === mode; })) state.mode = mode;
    var minutes = Number(q.get("minutes"));
    if (modeSpec(state.mode).minutes.indexOf(minutes) >= 0) state.minutes[state.mode] = minutes;
    var time = q.get("time");
    if (time === "now" || time === "all") state.time = time;
    var at = q.get("at") || "";
    if (time === "at" && TIME_PATTERN.test(at)) {
      state.time = "at";
      state.at = at;
    }
    var kinds = (q.get("kind") || "").split(",").filter(function (k) {
      return (cfg.kinds || []).some(function (pair) { return pair[0] === k; });
    });
    if (kinds.length) state.kinds = kinds;
  }

  function writeUrl() {
    var q = new URLSearchParams();
    q.set("mode", state.mode);
    q.set("minutes", String(state.minutes[state.mode]));
    q.set("time", state.time);
    if (state.time === "at" && state.at) q.set("at", state.at);
    if (state.kinds.join(",") !== (cfg.default_kinds || ["warm_station"]).join(",")) {
      q.set("kind", state.kinds.join(","));
    }
    try {
      window.history.replaceState(null, "", window.location.pathname + "?" + q.toString());
    } catch (err) {
      /* not remembered in the address bar: harmless */
    }
  }

  // -- requests ---------------------------------------------------------------------------

  function baseParams() {
    var q = new URLSearchParams();
    q.set("mode", state.mode);
    var at = openAt();
    if (at) q.set("open_at", at);
    q.set("kind", state.kinds.join(","));
    return q;
  }

  function coverageUrl(extra) {
    var q = baseParams();
    q.set("minutes", thresholds().join(","));
    Object.keys(extra).forEach(function (k) { q.set(k, extra[k]); });
    return cfg.api + "?" + q.toString();
  }

  async function load() {
    writeUrl();
    if (state.controller) state.controller.abort();
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    state.controller = controller;
    var seq = (state.seq += 1);
    resetSuggestion();
    state.catchments = null;
    document.body.setAttribute("data-state", "loading");
    setBusy(true, t("正在计算覆盖…"));
    setStatus(t("正在计算 {mode} {m} 分钟覆盖（{time}）…", {
      mode: modeSpec(state.mode).label, m: state.minutes[state.mode], time: timeLabel(),
    }), "busy");
    // The first view of a mode builds the network's road tables (seconds): say so.
    var slow = window.setTimeout(function () {
      if (seq === state.seq) setBusy(true, t("首次计算需要准备路网，请稍候（约 10–30 秒）…"));
    }, 3000);
    var answer;
    var signal = controller ? controller.signal : undefined;
    try {
      answer = await gs.fetchJson(coverageUrl({ layers: "cross,uncovered,stations" }), {
        signal: signal,
      });
      // Not cached yet: computed by a job on the server; its progress meanwhile.
      answer = await gs.followJob(answer, {
        signal: signal,
        onJob: function (job) {
          window.clearTimeout(slow);
          if (seq === state.seq) setBusy(true, gs.jobText(job));
        },
      });
    } catch (err) {
      return; // aborted by a newer view
    } finally {
      window.clearTimeout(slow);
    }
    if (seq !== state.seq) return;
    setBusy(false);
    if (answer.status === 200 && answer.body && answer.body.coverage) {
      state.data = answer.body;
      show(answer.body);
      document.body.setAttribute("data-state", "ready");
      if (state.show.catchments) loadCatchments();
    } else {
      failed(answer.status, answer.body);
    }
  }

  function failed(status, body) {
    var text = errorText(status, body);
    clear(el.notices);
    notice(el.notices, "error", text[0], text[1]);
    setStatus(t("未能计算覆盖。"), "error");
    document.body.setAttribute("data-state", "error");
  }

  async function loadCatchments() {
    var key = coverageUrl({ layer: "catchments", layers: "none" });
    if (state.catchments && state.catchments.key === key) {
      drawCatchments();
      return;
    }
    var seq = (state.catchSeq += 1);
    var viewSeq = state.seq;
    el.catchmentsBox.classList.add("is-loading");
    var answer = await gs.followJob(await gs.fetchJson(key));
    el.catchmentsBox.classList.remove("is-loading");
    if (seq !== state.catchSeq || viewSeq !== state.seq) return;
    if (answer.status === 200 && answer.body) {
      state.catchments = { key: key, data: answer.body };
      drawCatchments();
    } else {
      var text = errorText(answer.status, answer.body);
      notice(el.notices, "error", t("服务范围未能加载：") + text[0], text[1]);
    }
  }

  // -- map layers -------------------------------------------------------------------------

  // A town of the figures is approximate (roads take the nearest located place's town);
  // a district without towns gives none: then `fallback`.
  function approxTown(town, fallback) {
    return town ? town + t("（近似）") : fallback || "";
  }

  function tooltipNode(title, lines) {
    var box = h("div", "cov-tip");
    box.appendChild(dataText("strong", null, title, NAME_MAX));
    lines.forEach(function (line) {
      if (line) box.appendChild(dataText("div", null, line, TEXT_MAX));
    });
    return box;
  }

  function removeLayer(name) {
    var layer = state.layers[name];
    if (layer && state.map) state.map.removeLayer(layer);
    delete state.layers[name];
  }

  function putLayer(name, layer) {
    removeLayer(name);
    state.layers[name] = layer;
    if (state.show[name] && state.map) layer.addTo(state.map);
  }

  function ensurePanes(map) {
    [["cov-areas", 410], ["cov-lines", 420], ["cov-points", 630], ["cov-sites", 640]]
      .forEach(function (spec) {
        if (!map.getPane(spec[0])) map.createPane(spec[0]).style.zIndex = String(spec[1]);
      });
    // Polygons only shade: hovering passes through to what lies beneath.
    map.getPane("cov-areas").style.pointerEvents = "none";
  }

  function draw(data) {
    if (!state.map) return;
    var minutes = data.coverage.query.minutes || [];
    var layers = data.layers || {};
    var areas = L.geoJSON(
      { type: "FeatureCollection", features: data.features || [] },
      {
        pane: "cov-areas",
        interactive: false,
        style: function (f) {
          var k = minutes.indexOf(f.properties.minutes);
          var color = areaColor(k < 0 ? 0 : k);
          return {
            className: "cov-area cov-area-" + String(f.properties.minutes).replace(".", "_"),
            color: color,
            weight: 1,
            opacity: 0.9,
            fillColor: color,
            fillOpacity: 0.38,
          };
        },
      }
    );
    putLayer("areas", areas);
    putLayer(
      "cross",
      L.geoJSON(layers.cross || { type: "FeatureCollection", features: [] }, {
        pane: "cov-areas",
        interactive: false,
        style: function () {
          return {
            className: "cov-cross",
            color: COLORS.cross,
            weight: 1,
            dashArray: "4 4",
            fillColor: COLORS.cross,
            fillOpacity: 0.22,
          };
        },
      })
    );
    var lines = L.canvas({ padding: 0.3, pane: "cov-lines" });
    putLayer(
      "uncovered",
      L.geoJSON(layers.uncovered || { type: "FeatureCollection", features: [] }, {
        pane: "cov-lines",
        renderer: lines,
        style: function () {
          return { className: "cov-gap", color: COLORS.uncovered, weight: 2.5, opacity: 0.85 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.bindTooltip(function () {
            return tooltipNode(t("空白区 #{rank}", { rank: p.rank }), [
              approxTown(p.town),
              t("未覆盖道路 {km} 公里", { km: km(p.length_km) }),
              p.nearest_station_min === null ? t("没有站点可达") :
                t("最近站点约 {m} 分钟", { m: Math.ceil(p.nearest_station_min) }),
            ]);
          }, { sticky: true });
        },
      })
    );
    var villages = L.featureGroup();
    (data.coverage.uncovered_villages || []).forEach(function (v) {
      L.circleMarker([v.lat, v.lon], {
        pane: "cov-points",
        className: "cov-village",
        radius: 3.5,
        color: COLORS.village,
        weight: 1.5,
        fillColor: "#ffffff",
        fillOpacity: 0.9,
      })
        .bindTooltip(function () {
          return tooltipNode(v.name, [
            t(v.kind_label) + (v.town ? " · " + approxTown(v.town) : ""),
            v.travel_time_min === null ? t("没有站点可达") :
              t("距最近站点约 {m} 分钟", { m: v.travel_time_min }),
            v.schematic ? t("示意位置（非实测）") : "",
          ]);
        })
        .addTo(villages);
    });
    putLayer("villages", villages);
    var stations = L.geoJSON(layers.stations || { type: "FeatureCollection", features: [] }, {
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {
          pane: "cov-points",
          className: "cov-station",
          radius: 6,
          color: "#ffffff",
          weight: 1.5,
          fillColor: COLORS.station,
          fillOpacity: 0.95,
        });
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindTooltip(function () {
          return tooltipNode(p.name, [
            t(p.kind_label),
            p.opening_hours ? t("开放时间：") + p.opening_hours : "",
            p.sample ? t("示例数据") : "",
          ]);
        });
      },
    });
    putLayer("stations", stations);
    // Catchments belong to one view: drawn again only with this view's answer.
    removeLayer("catchments");
    if (state.show.catchments) drawCatchments();
    updateLegend(minutes);
  }

  function drawCatchments() {
    if (!state.catchments || !state.map) return;
    putLayer(
      "catchments",
      L.geoJSON(state.catchments.data, {
        pane: "cov-lines",
        renderer: L.canvas({ padding: 0.3, pane: "cov-lines" }),
        style: function (f) {
          return { className: "cov-catchment", color: f.properties.color, weight: 3, opacity: 0.8 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.bindTooltip(function () {
            return tooltipNode(p.name, [t("最近的站点"), t("覆盖道路 {km} 公里", { km: km(p.road_km) })]);
          }, { sticky: true });
        },
      })
    );
    // Under the uncovered roads and the points.
    if (state.layers.uncovered && state.show.uncovered) state.layers.uncovered.bringToFront();
  }

  function toggleLayer(name, on) {
    state.show[name] = on;
    if (name === "catchments" && on && state.data) {
      loadCatchments();
      return;
    }
    var layer = state.layers[name];
    if (!layer || !state.map) return;
    if (on) layer.addTo(state.map);
    else state.map.removeLayer(layer);
  }

  // -- legend -----------------------------------------------------------------------------

  function legendControl(map) {
    var control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      var box = L.DomUtil.create("details", "cov-legend");
      box.open = window.matchMedia ? window.matchMedia("(min-width: 800px)").matches : true;
      box.appendChild(h("summary", "cov-legend-title", t("图例")));
      el.legendItems = h("div", "cov-legend-items");
      box.appendChild(el.legendItems);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  function legendRow(swatchClass, style, label) {
    var row = h("div", "cov-legend-row");
    var sw = h("span", "cov-swatch " + swatchClass);
    Object.keys(style).forEach(function (k) { sw.style.setProperty(k, style[k]); });
    row.appendChild(sw);
    row.appendChild(h("span", null, label));
    return row;
  }

  function updateLegend(minutes) {
    if (!el.legendItems) return;
    clear(el.legendItems);
    var label = modeSpec(state.mode).label;
    minutes.forEach(function (m, k) {
      el.legendItems.appendChild(
        legendRow("cov-swatch-area", { background: areaColor(k) }, t("{mode} {m} 分钟内", { mode: label, m: m }))
      );
    });
    el.legendItems.appendChild(
      legendRow("cov-swatch-cross", { "border-color": COLORS.cross }, t("可达 2 个及以上站点"))
    );
    el.legendItems.appendChild(
      legendRow("cov-swatch-line", { background: COLORS.uncovered }, t("未覆盖道路（空白区）"))
    );
    el.legendItems.appendChild(
      legendRow("cov-swatch-dot", { background: COLORS.station }, t("计入的站点"))
    );
    el.legendItems.appendChild(
      legendRow("cov-swatch-dot", { background: "#9e9e9e" }, t("未计入的站点（关闭或类型不符）"))
    );
    el.legendItems.appendChild(
      legendRow("cov-swatch-ring", { "border-color": COLORS.village }, t("未覆盖村庄（社区）"))
    );
    el.legendItems.appendChild(
      legendRow("cov-swatch-site", { background: COLORS.site }, t("建议新站址"))
    );
  }

  // -- figures ----------------------------------------------------------------------------

  function last(list) {
    return list && list.length ? list[list.length - 1] : null;
  }

  function figure(parent, label, value, detail) {
    var item = h("div", "cov-figure");
    item.appendChild(h("div", "cov-figure-label", label));
    item.appendChild(h("div", "cov-figure-value", value));
    if (detail) item.appendChild(h("div", "cov-figure-detail", detail));
    parent.appendChild(item);
    return item;
  }

  function show(data) {
    var cov = data.coverage;
    var d = cov.district;
    var row = last(d.thresholds) || {};
    var minutes = cov.query.minutes || [];
    draw(data);

    clear(el.notices);
    showNotes(cov.notices || []);
    if (cov.stations.excluded_far_from_roads) {
      notice(el.notices, "info",
        t("{n} 个站点距道路超过 2 公里，未计入", { n: cov.stations.excluded_far_from_roads }),
        "Stations more than 2 km from every road are not counted.");
    }
    if (!cov.stations.count) {
      notice(el.notices, "warn", t("没有符合条件的站点"),
        state.time === "all" ? t("请选择其他站点类型。") : t("所选时间没有开放的站点，整个区域均未覆盖。"));
    }
    setStatus(t("{mode} {m} 分钟 · {time} · 计入 {n} 个站点", {
      mode: modeSpec(state.mode).label, m: last(minutes), time: timeLabel(), n: cov.stations.count,
    }));

    clear(el.figures);
    var grid = h("div", "cov-figure-grid");
    figure(grid, t("道路覆盖率"), pct(row.covered_share),
      t("{covered} / {total} 公里居民生产道路", { covered: km(row.covered_km), total: km(d.road_km) }));
    figure(grid, t("全总标准 1 公里内"), pct(d.acftu_share), t("服务半径 1 公里（路网距离）"));
    figure(grid, t("双站覆盖"), pct(row.cross_share), t("{km} 公里可达 2 个及以上站点", { km: km(row.cross_km) }));
    figure(grid, t("村庄（社区）覆盖"),
      d.villages ? row.villages_covered + " / " + d.villages : "—",
      d.villages ? pct(row.villages_share) + (d.villages_schematic ? t("（示意位置）") : "") :
        t("尚无村庄坐标"));
    figure(grid, t("覆盖面积"), row.area_km2 === null || row.area_km2 === undefined ? "—" :
      t("{km2} 平方公里", { km2: km(row.area_km2) }), t("道路两侧 {m} 米", { m: cov.query.buffer_m }));
    figure(grid, t("全路网覆盖率"), pct(row.all_roads && row.all_roads.covered_share),
      t("含高速公路及小路，共 {km} 公里", { km: km(d.all_road_km) }));
    el.figures.appendChild(grid);

    // Every threshold of the view, in the map's colours.
    var steps = h("ul", "cov-steps");
    steps.setAttribute("aria-label", t("各时限覆盖率"));
    (d.thresholds || []).forEach(function (t, k) {
      var li = h("li", "cov-step");
      var sw = h("span", "cov-swatch cov-swatch-area");
      sw.style.setProperty("background", areaColor(k));
      li.appendChild(sw);
      li.appendChild(h("span", "cov-step-label", gs.t("{m} 分钟", { m: t.minutes })));
      var bar = h("span", "cov-bar-track");
      var fill = h("span", "cov-bar-fill");
      fill.style.setProperty("width", Math.round(100 * (t.covered_share || 0)) + "%");
      fill.style.setProperty("background", areaColor(k));
      bar.appendChild(fill);
      li.appendChild(bar);
      li.appendChild(h("span", "cov-step-value", pct(t.covered_share)));
      steps.appendChild(li);
    });
    el.figures.appendChild(steps);

    showGaps(cov);
    showVillages(cov);
    showTable(cov);
  }

  function showGaps(cov) {
    clear(el.gaps);
    var gaps = cov.gaps || [];
    if (!gaps.length) {
      el.gaps.appendChild(h("li", "cov-empty", t("没有未覆盖的居民生产道路。")));
      return;
    }
    gaps.slice(0, GAPS_SHOWN).forEach(function (g) {
      var li = h("li", "cov-item");
      var btn = h("button", "cov-item-btn");
      btn.type = "button";
      btn.appendChild(h("span", "cov-rank", g.rank));
      btn.appendChild(dataText("span", "cov-item-name",
        (g.town ? approxTown(g.town) + " " : "") + g.road, NAME_MAX));
      btn.appendChild(h("span", "cov-item-meta",
        t("超过 {m} 分钟可达的道路 {km} 公里", { m: last(cov.query.minutes), km: km(g.length_km) }) +
        (g.nearest_station_min === null ? t(" · 无站点可达") :
          t(" · 最近站点 {m} 分钟", { m: Math.ceil(g.nearest_station_min) }))));
      btn.addEventListener("click", function () { zoomToGap(g.rank); });
      li.appendChild(btn);
      el.gaps.appendChild(li);
    });
    if (gaps.length > GAPS_SHOWN) {
      el.gaps.appendChild(h("li", "cov-more",
        t("另有 {n} 段较短的空白区，见地图。", { n: gaps.length - GAPS_SHOWN })));
    }
  }

  function zoomToGap(rank) {
    var layer = state.layers.uncovered;
    if (!layer || !state.map) return;
    if (!state.show.uncovered) {
      setLayerBox("uncovered", true);
      toggleLayer("uncovered", true);
    }
    layer.eachLayer(function (l) {
      if (l.feature && l.feature.properties.rank === rank) {
        state.map.fitBounds(l.getBounds(), { padding: [30, 30], maxZoom: 15 });
        l.setStyle({ weight: 6 });
        window.setTimeout(function () { l.setStyle({ weight: 2.5 }); }, 1500);
        l.openTooltip(l.getBounds().getCenter());
      }
    });
    sheet.collapseOnPhone();
  }

  function showVillages(cov) {
    clear(el.villages);
    var list = cov.uncovered_villages || [];
    el.villagesTitle.textContent = t("未覆盖村庄（社区）：{n} 个", { n: list.length });
    list.slice(0, VILLAGES_SHOWN).forEach(function (v) {
      var li = h("li", "cov-item");
      var btn = h("button", "cov-item-btn");
      btn.type = "button";
      btn.appendChild(dataText("span", "cov-item-name", v.name, NAME_MAX));
      btn.appendChild(dataText("span", "cov-item-meta", (v.town ? v.town + " · " : "") +
        (v.travel_time_min === null ? t("无站点可达") : t("约 {n} 分钟", { n: v.travel_time_min })) +
        (v.schematic ? t(" · 示意位置") : ""), TEXT_MAX));
      btn.addEventListener("click", function () {
        if (state.map) state.map.setView([v.lat, v.lon], 15);
        sheet.collapseOnPhone();
      });
      li.appendChild(btn);
      el.villages.appendChild(li);
    });
    if (list.length > VILLAGES_SHOWN) {
      el.villages.appendChild(h("li", "cov-more",
        t("另有 {n} 个，见地图。", { n: list.length - VILLAGES_SHOWN })));
    }
  }

  // -- the town table -----------------------------------------------------------------------

  var COLUMNS = [
    { key: "name", label: t("乡镇（近似）"), text: true },
    { key: "road", label: t("道路km") },
    { key: "share", label: t("覆盖率") },
    { key: "cross", label: t("双站") },
    { key: "villages", label: t("村庄") },
    { key: "acftu", label: t("1公里") },
  ];

  function townRow(t, index) {
    var r = last(t.thresholds) || {};
    return {
      index: index,
      name: t.name,
      road: t.road_km,
      share: r.covered_share,
      cross: r.cross_share,
      villages: t.villages ? r.villages_share : null,
      villagesText: t.villages ? r.villages_covered + "/" + t.villages : "—",
      schematic: t.villages_schematic > 0,
      acftu: t.acftu_share,
    };
  }

  function cell(row, col, tag) {
    var td = h(tag || "td");
    if (col.key === "name") {
      td.appendChild(dataText("span", "cov-town", row.name, NAME_MAX));
      td.setAttribute("scope", "row");
      return td;
    }
    td.className = "cov-num";
    if (col.key === "road") td.textContent = km(row.road);
    else if (col.key === "villages") {
      td.textContent = row.villagesText;
      td.title = row.villages === null ? t("无已定位村庄") :
        pct(row.villages) + (row.schematic ? t("（含示意位置）") : "");
    } else {
      var value = row[col.key];
      td.textContent = pct(value);
      if (typeof value === "number") {
        td.classList.add("cov-share");
        td.style.setProperty("--share", String(Math.max(0, Math.min(1, value))));
      }
    }
    return td;
  }

  function showTable(cov) {
    var towns = (cov.towns || []).filter(function (t) {
      return t.all_road_km > 0 || t.villages > 0;
    });
    state.tableRows = towns.map(townRow);
    state.tableDistrict = townRow(Object.assign({ name: t("全区") }, cov.district), -1);
    var m = last(cov.query.minutes);
    el.tableCaption.textContent = t("各乡镇（街道）{mode} {m} 分钟覆盖率（近似）", {
      mode: modeSpec(state.mode).label, m: m,
    });
    state.tableHidden = (cov.towns || []).length - towns.length;
    renderTable();
  }

  function renderTable() {
    clear(el.tableHead);
    COLUMNS.forEach(function (col) {
      var th = h("th");
      th.setAttribute("scope", "col");
      var btn = h("button", "cov-sort", col.label);
      btn.type = "button";
      if (state.sortKey === col.key) {
        th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
        btn.appendChild(h("span", "cov-sort-mark", state.sortDir > 0 ? " ▲" : " ▼"));
      }
      btn.addEventListener("click", function () {
        if (state.sortKey === col.key) state.sortDir = -state.sortDir;
        else {
          state.sortKey = col.key;
          state.sortDir = col.text ? 1 : -1;
        }
        renderTable();
      });
      th.appendChild(btn);
      el.tableHead.appendChild(th);
    });
    var rows = (state.tableRows || []).slice();
    if (state.sortKey) {
      var key = state.sortKey;
      var dir = state.sortDir;
      rows.sort(function (a, b) {
        var x = a[key];
        var y = b[key];
        if (x === null || x === undefined) return 1; // no figure: always last
        if (y === null || y === undefined) return -1;
        var c = typeof x === "string" ? x.localeCompare(y, "zh-Hans-CN") : x - y;
        return c * dir || a.index - b.index;
      });
    }
    clear(el.tableBody);
    rows.forEach(function (row) {
      var tr = h("tr");
      COLUMNS.forEach(function (col) { tr.appendChild(cell(row, col, col.key === "name" ? "th" : "td")); });
      el.tableBody.appendChild(tr);
    });
    clear(el.tableFoot);
    if (state.tableDistrict) {
      var tr = h("tr", "cov-district");
      COLUMNS.forEach(function (col) {
        tr.appendChild(cell(state.tableDistrict, col, col.key === "name" ? "th" : "td"));
      });
      el.tableFoot.appendChild(tr);
    }
    var notes = [];
    if (state.tableDistrict && state.tableDistrict.schematic) {
      notes.push(t("村庄（社区）位置含示意位置（非实测），村庄覆盖为示意。"));
    }
    if (state.tableHidden) {
      notes.push(t("{n} 个乡镇（街道）在当前路网上没有道路，未列出。", { n: state.tableHidden }));
    }
    notes.forEach(function (text) {
      var note = h("tr", "cov-table-note");
      var td = h("td", null, text);
      td.colSpan = COLUMNS.length;
      note.appendChild(td);
      el.tableFoot.appendChild(note);
    });
  }

  // -- suggested sites ----------------------------------------------------------------------

  function resetSuggestion() {
    state.suggestSeq += 1;
    state.suggestion = null;
    removeLayer("sites");
    if (el.suggestOut) clear(el.suggestOut);
    if (el.suggestBtn) {
      el.suggestBtn.disabled = false;
      el.suggestBtn.textContent = t("建议新站址");
    }
  }

  function siteIcon(rank) {
    return L.divIcon({
      className: "map-badge-icon cov-site-marker",
      html: h("span", "map-badge cov-site-badge", rank),
      iconSize: [28, 28],
      iconAnchor: [14, 14],
    });
  }

  async function suggest(ev) {
    if (ev) ev.preventDefault();
    if (!state.data) return;
    resetSuggestion();
    var seq = state.suggestSeq;
    var viewSeq = state.seq;
    var q = baseParams();
    q.set("minutes", String(state.minutes[state.mode]));
    q.set("n", el.n.value);
    var objective = el.suggestForm.querySelector("input[name='cov-objective']:checked");
    q.set("objective", objective ? objective.value : "roads");
    el.suggestBtn.disabled = true;
    el.suggestBtn.textContent = t("正在计算…");
    var wait = h("p", "status cov-status is-busy",
      t("正在求解最佳站址（数秒至半分钟）…"));
    el.suggestOut.appendChild(wait);
    el.suggestOut.setAttribute("aria-busy", "true");
    var answer = await gs.fetchJson(cfg.suggest_api + "?" + q.toString());
    answer = await gs.followJob(answer, {
      onJob: function (job) {
        if (seq === state.suggestSeq) wait.textContent = gs.jobText(job);
      },
    });
    if (seq !== state.suggestSeq || viewSeq !== state.seq) return;
    el.suggestOut.setAttribute("aria-busy", "false");
    el.suggestBtn.disabled = false;
    el.suggestBtn.textContent = t("重新计算");
    clear(el.suggestOut);
    if (answer.status !== 200 || !answer.body || !answer.body.siting) {
      var text = errorText(answer.status, answer.body);
      notice(el.suggestOut, "error", text[0], text[1]);
      return;
    }
    state.suggestion = answer.body;
    showSuggestion(answer.body);
  }

  function showSuggestion(data) {
    var s = data.siting;
    var sites = s.sites || [];
    var group = L.featureGroup();
    var markers = [];
    sites.forEach(function (site) {
      var marker = L.marker([site.lat, site.lon], {
        pane: "cov-sites",
        icon: siteIcon(site.rank),
        title: t("建议站址 {rank}", { rank: site.rank }),
        alt: t("建议站址 {rank}", { rank: site.rank }),
        zIndexOffset: 1000 - site.rank,
      }).bindTooltip(function () {
        return tooltipNode(t("建议站址 #{rank}", { rank: site.rank }), [
          approxTown(site.town),
          t("新增覆盖道路 {km} 公里", { km: km(site.added_road_km) }),
          s.before.villages ? t("新增覆盖村庄 {n} 个", { n: site.added_villages }) : "",
        ]);
      });
      markers.push(marker);
      marker.addTo(group);
    });
    putLayer("sites", group);
    if (state.map && !state.map.hasLayer(group)) group.addTo(state.map);

    var out = el.suggestOut;
    var b = s.before;
    var a = s.after;
    var head = h("div", "cov-box cov-suggest-summary");
    head.appendChild(h("p", "cov-suggest-title", sites.length ?
      t("新建 {n} 处站点后（{mode} {m} 分钟）：", {
        n: sites.length, mode: modeSpec(s.query.mode).label, m: last(s.query.minutes),
      }) :
      t("没有能改善覆盖的新站址。")));
    var facts = h("ul", "cov-facts");
    facts.appendChild(h("li", null, t("道路覆盖率 {before} → {after}（{km_before} → {km_after} 公里）", {
      before: pct(b.covered_share), after: pct(a.covered_share),
      km_before: km(b.covered_km), km_after: km(a.covered_km),
    })));
    facts.appendChild(h("li", null, b.villages ? t("村庄（社区）覆盖 {before} → {after} / {n}", {
      before: b.villages_covered, after: a.villages_covered, n: a.villages,
    }) : t("尚无村庄坐标，无法统计村庄覆盖")));
    var sc = s.set_cover;
    if (sc.villages) {
      facts.appendChild(h("li", null, sc.uncovered ?
        t("要让全部可达的未覆盖村庄进入 {m} 分钟范围，至少需新建 {n} 处站点", {
          m: last(s.query.minutes), n: sc.stations_needed,
        }) + (sc.optimal ? t("（最优解）") : t("（未证明最优）")) :
        t("全部已定位村庄均已覆盖。")));
      if (sc.note_zh) facts.appendChild(dataText("li", null, sc.note_zh, TEXT_MAX * 2));
    }
    head.appendChild(facts);
    out.appendChild(head);

    if (sites.length) {
      var list = h("ol", "cov-list cov-sites");
      sites.forEach(function (site, i) {
        var li = h("li", "cov-item");
        var btn = h("button", "cov-item-btn");
        btn.type = "button";
        btn.appendChild(h("span", "cov-rank cov-rank-site", site.rank));
        btn.appendChild(
          dataText("span", "cov-item-name", approxTown(site.town, t("建议站址")), NAME_MAX)
        );
        btn.appendChild(h("span", "cov-item-meta",
          t("+{km} 公里", { km: km(site.added_road_km) }) +
          (b.villages ? t(" · +{n} 村", { n: site.added_villages }) : "") +
          t(" · 累计 {share}", { share: pct(site.covered_share_after) })));
        btn.addEventListener("click", function () {
          if (!state.map) return;
          state.map.setView(markers[i].getLatLng(), Math.max(state.map.getZoom(), 14));
          markers[i].openTooltip();
          sheet.collapseOnPhone();
        });
        li.appendChild(btn);
        list.appendChild(li);
      });
      out.appendChild(list);
      if (state.map) {
        state.map.invalidateSize({ pan: false });
        state.map.fitBounds(group.getBounds(), { padding: [40, 40], maxZoom: 15 });
      }
    }

    var solver = s.solver;
    var greedy = s.greedy;
    var unit = s.query.objective === "villages" ? t(" 个村庄") : t(" 米道路");
    var basis = h("p", "cov-foot");
    // (No t() inside t()'s values: pybabel would not find it.)
    var status = solver.status === "optimal" ? t("最优解") :
      t("未证明最优（{status}）", { status: solver.status });
    basis.textContent = t("求解：{solver}，{status}，目标值 {value}{unit}；对照贪心算法：{greedy}{unit}。", {
      solver: solver.solver,
      status: status,
      value: num(solver.objective === null ? null : Math.round(solver.objective)),
      greedy: num(greedy.objective === null ? null : Math.round(greedy.objective)),
      unit: unit,
    }) + t("候选点 {n} 个（每 250 米道路至多一个）。位置为路网节点，乡镇归属为近似。", {
      n: solver.candidates,
    });
    out.appendChild(basis);
  }

  // -- controls -----------------------------------------------------------------------------

  function radios(name) {
    return Array.prototype.slice.call(document.querySelectorAll("input[name='" + name + "']"));
  }

  function buildMinutes() {
    clear(el.minutes);
    var spec = modeSpec(state.mode);
    spec.minutes.forEach(function (m) {
      var label = h("label", "seg-option cov-opt");
      var input = h("input");
      input.type = "radio";
      input.name = "cov-minutes";
      input.value = String(m);
      input.checked = m === state.minutes[state.mode];
      input.addEventListener("change", function () {
        if (!input.checked) return;
        state.minutes[state.mode] = m;
        load();
      });
      label.appendChild(input);
      label.appendChild(h("span", null, t("{m} 分钟", { m: m })));
      el.minutes.appendChild(label);
    });
  }

  function buildKinds() {
    (cfg.kinds || []).forEach(function (pair) {
      var label = h("label");
      var input = h("input");
      input.type = "checkbox";
      input.value = pair[0];
      input.checked = state.kinds.indexOf(pair[0]) >= 0;
      input.addEventListener("change", function () {
        var chosen = Array.prototype.slice.call(el.kinds.querySelectorAll("input:checked"))
          .map(function (i) { return i.value; });
        if (!chosen.length) {
          input.checked = true; // at least one kind is counted
          return;
        }
        state.kinds = chosen;
        load();
      });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + pair[1]));
      el.kinds.appendChild(label);
    });
  }

  function setLayerBox(name, on) {
    var box = el.layerBoxes.querySelector("input[data-layer='" + name + "']");
    if (box) box.checked = on;
  }

  function syncTime() {
    el.at.hidden = state.time !== "at";
    radios("cov-time").forEach(function (r) { r.checked = r.value === state.time; });
    if (state.time === "at") {
      if (!TIME_PATTERN.test(state.at)) {
        state.at = shanghaiNow().slice(0, 11) + (el.atTime.value || cfg.night || "02:00");
      }
      el.atDate.value = state.at.slice(0, 10);
      el.atTime.value = state.at.slice(11, 16);
    }
  }

  function readAt() {
    var date = el.atDate.value;
    var time = (el.atTime.value || "").slice(0, 5);
    var at = date + "T" + time;
    if (!TIME_PATTERN.test(at)) {
      clear(el.notices);
      notice(el.notices, "error", t("请选择完整的日期和时间"), t("例如 2026-11-25 02:00。"));
      return false;
    }
    state.at = at;
    return true;
  }

  function bindControls() {
    radios("cov-mode").forEach(function (r) {
      r.checked = r.value === state.mode;
      r.addEventListener("change", function () {
        if (!r.checked) return;
        state.mode = r.value;
        buildMinutes();
        load();
      });
    });
    buildMinutes();
    buildKinds();
    syncTime();
    radios("cov-time").forEach(function (r) {
      r.addEventListener("change", function () {
        if (!r.checked) return;
        state.time = r.value;
        syncTime();
        load();
      });
    });
    [el.atDate, el.atTime].forEach(function (input) {
      input.addEventListener("change", function () {
        if (readAt()) load();
      });
    });
    el.atNight.addEventListener("click", function () {
      el.atTime.value = cfg.night || "02:00";
      if (readAt()) load();
    });
    el.layerBoxes.addEventListener("change", function (ev) {
      var name = ev.target && ev.target.getAttribute("data-layer");
      if (name) toggleLayer(name, ev.target.checked);
    });
    sheet = gs.sheet(el.sheet, el.handle);
    gs.tabs(document.querySelectorAll(".cov-tab"), function () { sheet.expand(); });
    el.suggestForm.addEventListener("submit", suggest);
  }

  function start(map) {
    state.map = map;
    ensurePanes(map);
    legendControl(map);
    updateLegend(thresholds());
    el.loading = h("div", "cov-loading", t("正在计算覆盖…"));
    el.loading.setAttribute("aria-hidden", "true");
    el.loading.hidden = true;
    map.getContainer().appendChild(el.loading);
    document.body.classList.add("coverage-ready");
    if (state.data) draw(state.data);
    else load();
  }

  function init() {
    Object.assign(el, gs.elements({
      sheet: "cov-sheet",
      handle: "cov-handle",
      status: "cov-status",
      notices: "cov-notices",
      figures: "cov-figures",
      minutes: "cov-minutes-options",
      at: "cov-at",
      atDate: "cov-at-date",
      atTime: "cov-at-time",
      atNight: "cov-at-night",
      layerBoxes: "cov-layers",
      kinds: "cov-kinds",
      gaps: "cov-gaps",
      villages: "cov-villages",
      villagesTitle: "cov-villages-title",
      tableCaption: "cov-table-caption",
      tableHead: "cov-table-head",
      tableBody: "cov-table-body",
      tableFoot: "cov-table-foot",
      suggestForm: "cov-suggest-form",
      suggestBtn: "cov-suggest-btn",
      suggestOut: "cov-suggest-out",
      n: "cov-n",
    }));
    el.catchmentsBox = el.layerBoxes.querySelector("input[data-layer='catchments']").parentNode;
    readUrl();
    bindControls();
    gs.onMap(start);
  }

  gs.ready(init);
})();
