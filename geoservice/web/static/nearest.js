/*
 * /nearest — find the nearest open warm station (暖心驿站) by road travel time.
 *
 * Plain ES2017, no framework, no CDN; built on common.js (window.geoservice), whose rules
 * for data apply: station names, addresses and phone numbers are user-imported, so they
 * reach the page only as cut, bidi-isolated text, and links only from https: URLs and
 * digits-only tel: numbers.
 */
(function () {
  "use strict";

  var gs = window.geoservice;
  var { h, clip, isolate, dataText, clear, notice, t } = gs;
  var reports = window.geoserviceReports; // static/reports.js, loaded before this script

  var MODES = ["walk", "bike", "drive"];
  var MODE_KEY = "geoservice.nearest.mode";
  // The chosen route is drawn bold on top; the alternatives thin and light so that the
  // one the worker is about to follow stands out at a glance on a small screen.
  var ROUTE_SELECTED = { color: "#1557b0", weight: 7, opacity: 0.92 };
  var ROUTE_OTHER = { color: "#6f86c6", weight: 4, opacity: 0.55 };

  var cfg = gs.pageConfig("nearest-config");
  // On an English page the answer's Chinese labels give way to the page's own.
  var english = gs.lang() === "en";
  var NAME_MAX = gs.limits.name;
  var TEXT_MAX = gs.limits.text;
  var el = {};
  var sheet = null; // the result sheet's folding (gs.sheet)
  var state = {
    map: null,
    layers: null,
    origin: null, // L.LatLng
    originLabel: "",
    accuracy: null,
    mode: storedMode() || cfg.default_mode || "bike",
    open: true,
    seq: 0,
    controller: null,
    results: [],
    routes: [],
    markers: [],
    selected: -1,
  };

  // localStorage throws in some private-browsing modes and WebViews: the mode is then
  // simply not remembered.
  function storedMode() {
    try {
      var m = window.localStorage.getItem(MODE_KEY);
      return MODES.indexOf(m) >= 0 ? m : null;
    } catch (err) {
      return null;
    }
  }

  function storeMode(mode) {
    try {
      window.localStorage.setItem(MODE_KEY, mode);
    } catch (err) {
      /* not remembered, harmless */
    }
  }

  function formatDistance(metres) {
    if (typeof metres !== "number" || !isFinite(metres)) return "";
    if (metres >= 1000) return t("{km} 公里", { km: (metres / 1000).toFixed(1) });
    return t("{m} 米", { m: Math.round(metres) });
  }

  // The first phone number of a stored phone text, as maps.tel_href does on the server:
  // "010-6904 1234转8001" → "tel:01069041234"; no link without at least 3 digits.
  function telHref(phone) {
    var match = /\+?[0-9][0-9 ()\-]*/.exec(String(phone || ""));
    if (!match) return null;
    var digits = match[0].replace(/[^0-9+]/g, "");
    return digits.replace(/^\+/, "").length >= 3 ? "tel:" + digits : null;
  }

  // -- status, notices, errors -------------------------------------------------------

  function setStatus(text, kind) {
    gs.setStatus(el.status, text, kind);
  }

  function setBusy(busy) {
    el.sheet.setAttribute("aria-busy", busy ? "true" : "false");
    document.body.classList.toggle("is-busy", busy);
  }

  function showError(status, body) {
    clearResults();
    if (status === 422) {
      notice(el.notices, "error", t("此处附近没有道路，无法计算路线"), gs.apiMessage(body)[0]);
      setStatus(t("请在道路附近重新点选出发点。"), "error");
      return;
    }
    var text = gs.errorText(status, body);
    notice(el.notices, "error", text[0], text[1]);
    setStatus(status === 400 ? t("查询失败，请调整条件后重试。") : t("查询失败。"), "error");
  }

  // -- map layers ----------------------------------------------------------------------

  function clearResults() {
    clear(el.notices);
    clear(el.results);
    if (state.layers) state.layers.clearLayers();
    state.results = [];
    state.routes = [];
    state.markers = [];
    state.selected = -1;
    drawOrigin();
  }

  function drawOrigin() {
    if (!state.origin || !state.layers) return;
    if (state.accuracy && state.accuracy < 3000) {
      L.circle(state.origin, {
        radius: state.accuracy,
        className: "origin-accuracy",
        color: "#1976d2",
        weight: 1,
        fillOpacity: 0.08,
        interactive: false,
      }).addTo(state.layers);
    }
    L.circleMarker(state.origin, {
      radius: 9,
      className: "origin-marker",
      color: "#ffffff",
      weight: 3,
      fillColor: "#1976d2",
      fillOpacity: 1,
      bubblingMouseEvents: false,
    })
      .bindTooltip(state.originLabel || t("出发点"))
      .addTo(state.layers);
  }

  function rankIcon(rank) {
    var badge = h("span", "map-badge", rank);
    return L.divIcon({
      className: "map-badge-icon rank-marker-" + rank,
      html: badge,
      iconSize: [28, 28],
      iconAnchor: [14, 14],
    });
  }

  function styleRoutes() {
    state.routes.forEach(function (line, i) {
      var chosen = i === state.selected;
      line.setStyle(chosen ? ROUTE_SELECTED : ROUTE_OTHER);
      var path = line.getElement && line.getElement();
      if (path) path.classList.toggle("route-selected", chosen);
      if (chosen) line.bringToFront();
    });
    var cards = el.results.querySelectorAll(".result-card");
    Array.prototype.forEach.call(cards, function (card, i) {
      card.classList.toggle("is-selected", i === state.selected);
      card.setAttribute("aria-current", i === state.selected ? "true" : "false");
    });
  }

  function select(index, scrollCard) {
    if (index < 0 || index >= state.results.length) return;
    state.selected = index;
    styleRoutes();
    var card = el.results.querySelectorAll(".result-card")[index];
    if (scrollCard && card && card.scrollIntoView) {
      card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  // -- result cards --------------------------------------------------------------------

  function card(result, index) {
    var rank = index + 1;
    var art = h("article", "result-card");
    art.setAttribute("data-station-id", String(result.id));
    art.setAttribute("tabindex", "0");

    var head = h("div", "card-head");
    head.appendChild(h("span", "card-rank", rank));
    head.appendChild(dataText("h2", "card-name", result.name, NAME_MAX));
    art.appendChild(head);

    // Time, distance and open status on one line: what a rider decides by, at a glance.
    var meta = h("div", "card-meta");
    var time = h("p", "card-time");
    time.appendChild(h("strong", null, t("约 {n} 分钟", { n: result.travel_time_min })));
    var dist = formatDistance(result.network_distance_m);
    if (dist) time.appendChild(document.createTextNode(" · " + dist));
    meta.appendChild(time);
    meta.appendChild(
      dataText("p", "card-status " + (result.open_now ? "is-open" : "is-closed"),
        english ? (result.open_now ? t("开放中") : t("已关闭")) : result.status, TEXT_MAX)
    );
    art.appendChild(meta);

    // In English the page's own labels of the amenities (the answer's are Chinese).
    var names = cfg.amenity_labels || {};
    var labels = english
      ? (result.amenities || []).map(function (a) { return names[a] || a; })
      : result.amenity_labels || [];
    if (labels.length) {
      var list = h("ul", "card-amenities");
      list.setAttribute("aria-label", t("服务设施"));
      labels.forEach(function (label) {
        list.appendChild(dataText("li", null, label, TEXT_MAX));
      });
      art.appendChild(list);
    }

    var facts = h("dl", "card-facts");
    function fact(term, value) {
      if (value === null || value === undefined || value === "") return null;
      facts.appendChild(h("dt", null, term));
      var dd = h("dd");
      dd.setAttribute("dir", "auto");
      if (value instanceof Node) dd.appendChild(value);
      else dd.textContent = clip(value, TEXT_MAX);
      facts.appendChild(dd);
      return dd;
    }
    fact(t("开放时间"), english ? result.opening_hours : result.hours_zh || result.opening_hours);
    fact(t("地址"), result.address);
    var tel = telHref(result.phone);
    if (tel) {
      var phone = h("a", "card-phone", clip(result.phone, TEXT_MAX));
      phone.href = tel;
      fact(t("电话"), phone);
    } else {
      fact(t("电话"), result.phone); // no number in it: shown, not linked
    }
    if (facts.firstChild) art.appendChild(facts);

    var nav = h("div", "card-nav");
    var links = result.navigation || {};
    [
      ["amap", t("高德导航"), "nav-amap"],
      ["baidu", t("百度导航"), "nav-baidu"],
    ].forEach(function (spec) {
      var url = gs.safeHttpUrl(links[spec[0]]);
      if (!url) return;
      var a = h("a", "nav-btn " + spec[2], spec[1]);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.setAttribute("aria-label",
        t("{app}到 {name}", { app: spec[1], name: isolate(clip(result.name, NAME_MAX)) }));
      nav.appendChild(a);
    });
    art.appendChild(nav);
    // Workers' reports (static/reports.js): "有 N 条待核实反馈" and the two-tap report.
    art.appendChild(reports.box(result.id, result.open_reports || 0));

    art.addEventListener("click", function (ev) {
      // Links and the report box keep doing what they do; a tap anywhere else on the card
      // shows its route.
      if (ev.target.closest && ev.target.closest("a, .report-box")) return;
      select(index, false);
      fitTo(index);
    });
    art.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && ev.target === art) {
        select(index, false);
        fitTo(index);
      }
    });
    return art;
  }

  // A result's popup on the map: name, open status and the report box, as the station
  // popups of the other maps (maps.station_popup).
  function popup(result) {
    var node = h("div", "station-popup");
    node.appendChild(dataText("b", "popup-name", result.name, NAME_MAX));
    node.appendChild(
      dataText("p", "popup-status " + (result.open_now ? "is-open" : "is-closed"),
        result.status, TEXT_MAX)
    );
    node.appendChild(reports.box(result.id, result.open_reports || 0));
    return node;
  }

  function fitMap(bounds) {
    // New cards change the sheet's height and so the map's, but the ResizeObserver only
    // reports that after the next layout; fitting to the old size would cut the routes
    // off. invalidateSize() reads the container's size now (forcing the layout).
    state.map.invalidateSize({ pan: false });
    state.map.fitBounds(bounds, { padding: [28, 28], maxZoom: 17 });
  }

  function fitTo(index) {
    var line = state.routes[index];
    if (!line || !state.map) return;
    var bounds = line.getBounds();
    if (state.origin) bounds.extend(state.origin);
    fitMap(bounds);
  }

  // Whether the page's own notices (shown from its first load) already say `code`.
  function onPage(code) {
    return !!document.querySelector('#nearest-page-notices [data-notice="' + code + '"]');
  }

  function showAnswer(data) {
    clearResults();
    var results = Array.isArray(data.results) ? data.results : [];
    var network = data.network || {};
    var origin = data.origin || {};
    // The page says from its first load what it knew then (pages._page_notices): not twice.
    if (network.schematic && !onPage("schematic_network")) {
      notice(
        el.notices,
        "warn",
        t("示意路网：道路为根据行政区划生成的示意网络，非真实道路，时间仅供参考"),
        english ? "" : "Schematic network: roads are generated, not real; times are indicative only."
      );
    }
    var sample = results.some(function (r) { return r.source === "sample"; });
    if (sample && !onPage("sample_stations")) {
      notice(el.notices, "sample", t("示例数据"), t("驿站为演示用样例，并非总工会正式名录。"));
    }
    if (origin.outside_district) {
      // The district's name comes from the page's configuration (its profile).
      var district = cfg.district || t("本区");
      notice(el.notices, "info", t("所选位置在{district}外", { district: district }),
        t("本服务只收录{district}内的驿站，结果可能不是最近的。", { district: district }));
    }
    if (typeof origin.snap_distance_m === "number" && origin.snap_distance_m > 150) {
      notice(
        el.notices,
        "info",
        t("出发点离道路约 {distance}", { distance: formatDistance(origin.snap_distance_m) }),
        t("已从最近的道路开始计算。")
      );
    }

    if (!results.length) {
      var reason = gs.splitMessage(data.reason || t("没有找到符合条件的驿站"));
      notice(el.notices, "empty", reason[0], reason[1]);
      setStatus(
        state.open ? t("可以关闭“只看开放中”，或减少所选设施再试。") : t("可以减少所选设施再试。"),
        "empty"
      );
      return;
    }

    state.results = results;
    var modeLabel = english ? (cfg.mode_labels || {})[network.mode] || "" : network.mode_label || "";
    var values = { origin: state.originLabel || t("所选位置"), mode: modeLabel, n: results.length };
    setStatus(
      state.open
        ? t("从{origin}出发 · {mode} · 最近 {n} 个开放中的驿站", values)
        : t("从{origin}出发 · {mode} · 最近 {n} 个驿站", values)
    );

    // Alternatives first, so the first (fastest) route is drawn on top.
    var bounds = L.latLngBounds([state.origin]);
    results.forEach(function (r, i) {
      var coords = (r.route && r.route.coordinates) || [];
      var latlngs = coords.map(function (c) { return [c[1], c[0]]; });
      var line = L.polyline(latlngs, {
        className: "route route-" + (i + 1),
        color: ROUTE_OTHER.color,
        weight: ROUTE_OTHER.weight,
        opacity: ROUTE_OTHER.opacity,
        lineCap: "round",
        lineJoin: "round",
        // Not clickable: on a phone a tap near a fat route line would otherwise select
        // the route instead of moving the origin (Chromium even snaps taps onto nearby
        // clickable shapes). Cards and the numbered markers select a route instead.
        interactive: false,
      });
      state.routes.push(line);
      if (latlngs.length) bounds.extend(line.getBounds());
      var label = isolate(clip(r.name, NAME_MAX));
      var marker = L.marker([r.lat, r.lon], {
        icon: rankIcon(i + 1),
        title: label,
        alt: label,
        riseOnHover: true,
        zIndexOffset: 1000 - i,
      });
      marker.on("click", function () { select(i, true); });
      // A phone's map is short: a popup taller than it (the report panel open) scrolls.
      var height = state.map ? state.map.getSize().y - 100 : 0;
      marker.bindPopup(popup(r), {
        maxWidth: 280,
        maxHeight: height > 120 ? height : undefined,
        autoPanPadding: [12, 12],
      });
      state.markers.push(marker);
      bounds.extend(marker.getLatLng());
      el.results.appendChild(card(r, i));
    });
    if (state.layers) {
      for (var i = state.routes.length - 1; i >= 0; i -= 1) state.routes[i].addTo(state.layers);
      state.markers.forEach(function (m) { m.addTo(state.layers); });
      fitMap(bounds);
    }
    select(0, false);
    el.results.scrollTop = 0;
  }

  // -- querying ------------------------------------------------------------------------

  function chosenAmenities() {
    var chips = el.chips.querySelectorAll(".chip[aria-pressed='true']");
    return Array.prototype.map.call(chips, function (c) { return c.getAttribute("data-amenity"); });
  }

  async function query() {
    if (!state.origin) return;
    var params = new URLSearchParams({
      lon: state.origin.lng.toFixed(6),
      lat: state.origin.lat.toFixed(6),
      mode: state.mode,
      k: String(cfg.k || 3),
      open: state.open ? "1" : "0",
    });
    var amenities = chosenAmenities();
    if (amenities.length) params.set("amenity", amenities.join(","));
    // A newer question (another tap, another mode) makes older answers irrelevant.
    if (state.controller) state.controller.abort();
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    state.controller = controller;
    var seq = (state.seq += 1);
    setBusy(true);
    setStatus(t("正在计算路线…"), "busy");
    var answer;
    try {
      answer = await gs.fetchJson(cfg.api + "?" + params.toString(), {
        signal: controller ? controller.signal : undefined,
      });
    } catch (err) {
      return; // aborted by a newer query
    }
    if (seq !== state.seq) return;
    setBusy(false);
    if (answer.status === 200 && answer.body) showAnswer(answer.body);
    else showError(answer.status, answer.body);
  }

  function setOrigin(latlng, label, accuracy) {
    state.origin = L.latLng(latlng);
    state.originLabel = label;
    state.accuracy = accuracy || null;
    clearResults();
    query();
  }

  // -- geolocation ---------------------------------------------------------------------

  var GEO_ERRORS = {
    1: t("定位权限被拒绝。请在浏览器设置中允许定位，或直接点地图选择出发点。"),
    2: t("暂时无法确定您的位置（信号较弱）。请稍后再试，或直接点地图选择出发点。"),
    3: t("定位超时。请到开阔处再试，或直接点地图选择出发点。"),
  };

  function locate() {
    if (!navigator.geolocation) {
      geoFailed(t("此浏览器不支持定位。请直接点地图选择出发点。"));
      return;
    }
    if (window.isSecureContext === false) {
      // Browsers only allow geolocation on https:// (and localhost) pages.
      geoFailed(t("当前网页不是 HTTPS 连接，浏览器不允许定位。请直接点地图选择出发点。"));
      return;
    }
    el.locate.disabled = true;
    el.locate.classList.add("is-locating");
    setStatus(t("正在定位…"), "busy");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        el.locate.disabled = false;
        el.locate.classList.remove("is-locating");
        setOrigin([pos.coords.latitude, pos.coords.longitude], t("我的位置"), pos.coords.accuracy);
      },
      function (err) {
        el.locate.disabled = false;
        el.locate.classList.remove("is-locating");
        geoFailed(GEO_ERRORS[err && err.code] || t("无法获取位置。请直接点地图选择出发点。"));
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  function geoFailed(message) {
    clear(el.notices);
    notice(el.notices, "error", t("无法定位"), message);
    setStatus(t("提示：点地图任意位置即可作为出发点。"), "error");
    sheet.expand();
  }

  // -- controls ------------------------------------------------------------------------

  function bindControls() {
    el.locate.addEventListener("click", locate);

    var radios = el.modes.querySelectorAll("input[name='mode']");
    Array.prototype.forEach.call(radios, function (r) {
      r.checked = r.value === state.mode;
      r.addEventListener("change", function () {
        if (!r.checked) return;
        state.mode = r.value;
        storeMode(state.mode);
        query();
      });
    });

    el.open.checked = state.open;
    el.open.addEventListener("change", function () {
      state.open = el.open.checked;
      query();
    });

    el.chips.addEventListener("click", function (ev) {
      var chip = ev.target.closest ? ev.target.closest(".chip") : null;
      if (!chip) return;
      var on = chip.getAttribute("aria-pressed") !== "true";
      chip.setAttribute("aria-pressed", on ? "true" : "false");
      query();
    });

    sheet = gs.sheet(el.sheet, el.handle);
  }

  function start(map) {
    state.map = map;
    state.layers = L.featureGroup().addTo(map);
    map.on("click", function (ev) {
      setOrigin(ev.latlng, t("地图选点"));
    });
    document.body.classList.add("nearest-ready");
  }

  function init() {
    Object.assign(el, gs.elements({
      sheet: "nearest-sheet",
      handle: "sheet-handle",
      notices: "nearest-notices",
      status: "nearest-status",
      results: "nearest-results",
      locate: "locate-btn",
      modes: "mode-switch",
      open: "open-only",
      chips: "amenity-chips",
    }));
    bindControls();
    gs.onMap(start);
  }

  gs.ready(init);
})();
