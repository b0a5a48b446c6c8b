/*
 * What the tool pages' scripts (nearest.js, caravan.js, coverage.js) share, as
 * window.geoservice: building elements from data safely, reading the page's configuration,
 * asking the API for JSON and showing its bilingual errors, notices and status lines, the
 * bottom sheet and tabs, and waiting for the map. Loaded with `defer` before the page's own
 * script (pages._tool_page), so it is there when that one runs.
 *
 * Plain ES2017, no framework, no CDN. Every value from data is put into the page with
 * textContent / setAttribute of plain attributes, never innerHTML: names, addresses and
 * messages are user-imported data. Such text is cut for display as the server's pages cut
 * it (clip) and isolated (dir="auto", or FSI…PDI in attributes) so that bidi controls in a
 * name cannot reorder the text around it. Links are built only from https: URLs. The
 * pages' Content-Security-Policy allows no inline script: behaviour is bound with
 * addEventListener.
 */
(function () {
  "use strict";

  // The page's words (static/i18n.js, loaded first by every page).
  var i18n = window.geoserviceI18n;
  var t = i18n.t;

  // Display lengths (characters) of names and other texts: maps.NAME_DISPLAY_MAX and
  // maps.TEXT_DISPLAY_MAX on the server, sent in each page's config (see pageConfig).
  var limits = { name: 60, text: 160 };

  // The page's configuration: JSON in <script type="application/json" id="…"> ({} when
  // missing or broken). Its name_max and text_max become the display lengths.
  function pageConfig(id) {
    var node = document.getElementById(id);
    var cfg;
    try {
      cfg = JSON.parse(node ? node.textContent : "{}") || {};
    } catch (err) {
      cfg = {};
    }
    if (cfg.name_max) limits.name = cfg.name_max;
    if (cfg.text_max) limits.text = cfg.text_max;
    return cfg;
  }

  // -- elements from data ------------------------------------------------------------

  function h(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // At most `max` characters (code points, as Python counts them), the last one "…"
  // (maps.clip on the server).
  function clip(value, max) {
    var text = value === null || value === undefined ? "" : String(value);
    if (text.length <= max) return text; // UTF-16 units ≥ code points: surely short enough
    var chars = Array.from(text);
    return chars.length <= max ? text : chars.slice(0, max - 1).join("") + "\u2026";
  }

  // Plain-text isolation (FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE) for attributes
  // such as titles and labels, where no element can isolate the text.
  function isolate(text) {
    return "\u2068" + text + "\u2069";
  }

  // An element showing a data value as text: cut to `max` (default: the text length) and
  // bidi-isolated (dir="auto").
  function dataText(tag, className, value, max) {
    var node = h(tag, className, clip(value, max || limits.text));
    node.setAttribute("dir", "auto");
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // Only https links (the server makes them) reach an href, so a tampered record can
  // never become a javascript: URL.
  function safeHttpUrl(url) {
    return typeof url === "string" && /^https:\/\/[^\s]+$/i.test(url) ? url : null;
  }

  // -- the API -------------------------------------------------------------------------

  // Messages are "中文 / English": the part in the page's language, then the other one
  // (the Chinese part and the rest on a Chinese page).
  function splitMessage(message) {
    var text = String(message || "");
    var cut = text.indexOf(" / ");
    var parts = cut < 0 ? [text, ""] : [text.slice(0, cut), text.slice(cut + 3)];
    return inPageLanguage(parts);
  }

  // [Chinese, English] → [the page's language, the other] (an empty part keeps its place).
  function inPageLanguage(parts) {
    return i18n.lang() === "en" && parts[1] ? [parts[1], parts[0]] : parts;
  }

  // The message of an error answer (message_zh/message_en, else error), the page's language
  // first.
  function apiMessage(body) {
    if (body && body.message_zh) {
      return inPageLanguage([String(body.message_zh), String(body.message_en || "")]);
    }
    return splitMessage(body && body.error);
  }

  // GET (or `init`'s method) `url` asking for JSON: {status, body, headers}, status 0 when
  // no answer came and body null when it was not JSON. An abort (init.signal) throws.
  async function fetchJson(url, init) {
    var options = Object.assign({}, init);
    options.headers = Object.assign({ Accept: "application/json" }, options.headers);
    var answer = { status: 0, body: null, headers: null };
    try {
      var resp = await fetch(url, options);
      answer.status = resp.status;
      answer.headers = resp.headers;
      try {
        answer.body = await resp.json();
      } catch (err) {
        answer.body = null;
      }
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      answer.status = 0;
    }
    return answer;
  }

  // Tour plans, coverage answers not cached yet and site suggestions are jobs: their request
  // is answered 202 with the job's Location (/api/jobs/<id>). followJob looks at the job
  // as often as its Retry-After says (a second), tells onJob(job) each time, and gives the
  // answer the job led to: its result fetched (GET result.href), or a failed or cancelled
  // job's error as an answer with that status. Any other answer is given back as it is.
  // options: { signal } (AbortController: stop following), { onJob }.
  async function followJob(answer, options) {
    var opts = options || {};
    if (answer.status !== 202 || !answer.headers) return answer;
    var url = answer.headers.get("Location");
    var job = answer.body;
    // A second, as the server asks (never more than 5: a proxy may have changed it).
    var wait = Math.min(Math.max(Number(answer.headers.get("Retry-After")) || 1, 1), 5);
    while (job && (job.state === "queued" || job.state === "running")) {
      if (opts.onJob) opts.onJob(job, url);
      await new Promise(function (resolve) { window.setTimeout(resolve, wait * 1000); });
      if (opts.signal && opts.signal.aborted) {
        var stop = new Error("aborted");
        stop.name = "AbortError";
        throw stop;
      }
      var polled = await fetchJson(url, { signal: opts.signal });
      if (polled.status !== 200 || !polled.body) return polled;
      job = polled.body;
    }
    if (!job) return { status: 0, body: null, headers: null };
    if (opts.onJob) opts.onJob(job, url);
    if (job.state === "done" && job.result && job.result.href) {
      return fetchJson(job.result.href, { signal: opts.signal });
    }
    var error = job.error || null;
    return { status: error ? error.status : 500, body: error, headers: null };
  }

  // What a job is doing, in words: queued (and how many are ahead), the step and how far,
  // the seconds it has run against its limit.
  function jobStep(step) {
    if (step === "matrix") return t("计算站点之间的车程");
    if (step === "solve") return t("搜索最优路线");
    if (step === "schedule") return t("排出每天的日程");
    if (step === "areas") return t("计算覆盖范围");
    return t("正在计算");
  }

  function jobText(job) {
    if (!job) return "";
    if (job.state === "queued") {
      var ahead = job.queue_position || 0;
      return ahead ? t("排队中，前面还有 {n} 个计算任务…", { n: ahead }) : t("排队中，马上开始…");
    }
    var p = job.progress || {};
    var text = jobStep(p.step);
    if (p.total > 1) text += t("（{done}/{total}）", { done: p.done, total: p.total });
    if (job.elapsed_seconds != null) {
      text += t(" · 已用 {s} 秒，上限 {cap} 秒",
        { s: Math.round(job.elapsed_seconds), cap: Math.round(job.cap_seconds) });
    }
    return text;
  }

  // [title, detail] of a failed answer, as a notice shows them. Pages say more for the
  // statuses that mean something of their own (a 422 of nearest or the planner, …).
  function errorText(status, body, retryAfter) {
    var message = apiMessage(body);
    if (status === 0) return [t("网络错误：无法连接服务器"), t("请检查网络后重试。")];
    if (status === 400) return [t("请求有误：") + message[0], message[1]];
    if (status === 429) {
      return [t("请求过于频繁，请稍后再试"),
        retryAfter ? t("请 {s} 秒后再试。", { s: retryAfter }) : t("请等待约一分钟后重试。")];
    }
    if (status === 503) return [t("服务暂时忙或不可用"), message[0] || t("请稍后再试。")];
    return [t("服务器出错（{status}）", { status: status }), message[0] || t("请稍后重试。")];
  }

  // -- notices and status lines ----------------------------------------------------------

  // A notice box in `parent`: the title strong, the detail small. Kinds (common.css): a
  // note (any other word), warn, info, error (an alert), empty.
  function notice(parent, kind, title, detail) {
    var box = h("div", "notice notice-" + kind);
    box.setAttribute("role", kind === "error" ? "alert" : "note");
    box.appendChild(dataText("strong", null, title, limits.text * 2));
    if (detail) box.appendChild(dataText("span", "notice-detail", detail, limits.text * 2));
    parent.appendChild(box);
    return box;
  }

  // A status line's text and state (is-busy, is-error, …; none: a plain one).
  function setStatus(node, text, kind) {
    Array.prototype.slice.call(node.classList).forEach(function (name) {
      if (name.indexOf("is-") === 0) node.classList.remove(name);
    });
    if (kind) node.classList.add("is-" + kind);
    node.textContent = text;
  }

  // -- bottom sheet and tabs -----------------------------------------------------------

  // A phone's bottom sheet (common.css .sheet) that its handle folds away and back.
  function sheet(node, handle) {
    function fold(collapsed) {
      node.classList.toggle("is-collapsed", collapsed);
      handle.setAttribute("aria-expanded", collapsed ? "false" : "true");
    }
    handle.addEventListener("click", function () {
      fold(!node.classList.contains("is-collapsed"));
    });
    return {
      expand: function () { fold(false); },
      // Out of the way of the map the user is sent to; from 800 px the sheet is a side
      // panel that never folds (common.css).
      collapseOnPhone: function () {
        if (window.matchMedia && window.matchMedia("(max-width: 799px)").matches) fold(true);
      },
    };
  }

  // WAI-ARIA tabs: each tab shows the panel its aria-controls names; arrow keys move
  // between them. Returns show(tab); `onShow(tab)` runs after each change.
  function tabs(list, onShow) {
    var all = Array.prototype.slice.call(list);
    function show(tab) {
      all.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (onShow) onShow(tab);
    }
    all.forEach(function (tab, i) {
      tab.addEventListener("click", function () { show(tab); });
      tab.addEventListener("keydown", function (ev) {
        var step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
        if (!step) return;
        var next = all[(i + step + all.length) % all.length];
        show(next);
        next.focus();
        ev.preventDefault();
      });
    });
    return show;
  }

  // What the page says from its first load (templates/_page.html page_notices): open on a
  // desktop, folded to its tappable summary on a phone, where the map comes first.
  function foldNoticesOnPhone() {
    if (!window.matchMedia || !window.matchMedia("(max-width: 799px)").matches) return;
    document.querySelectorAll("details.page-notices").forEach(function (box) {
      box.open = false;
    });
  }

  // -- start ---------------------------------------------------------------------------

  // The page's elements by id: {name: id, …} → {name: element, …}.
  function elements(ids) {
    var found = {};
    Object.keys(ids).forEach(function (name) {
      found[name] = document.getElementById(ids[name]);
    });
    return found;
  }

  // `start(map)` once the page's Leaflet map exists. folium's inline script creates it and
  // maps publishes it as window.geoserviceMap (and fires "geoservice:map-ready"); scripts
  // are deferred, so normally it exists already. The map shares the screen with panels
  // whose heights change with their content: Leaflet's idea of its size is kept current.
  function onMap(start) {
    var started = false;
    function begin(map) {
      if (started || !map) return;
      started = true;
      if (typeof ResizeObserver === "function") {
        new ResizeObserver(function () { map.invalidateSize({ pan: false }); })
          .observe(map.getContainer());
      }
      start(map);
    }
    if (window.geoserviceMap) begin(window.geoserviceMap);
    else document.addEventListener("geoservice:map-ready", function (ev) { begin(ev.detail.map); });
  }

  // `init()` once the document is parsed.
  function ready(init) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
    else init();
  }

  ready(foldNoticesOnPhone);

  window.geoservice = Object.freeze({
    t: t,
    lang: i18n.lang,
    limits: limits,
    pageConfig: pageConfig,
    h: h,
    clip: clip,
    isolate: isolate,
    dataText: dataText,
    clear: clear,
    safeHttpUrl: safeHttpUrl,
    splitMessage: splitMessage,
    apiMessage: apiMessage,
    fetchJson: fetchJson,
    followJob: followJob,
    jobText: jobText,
    errorText: errorText,
    notice: notice,
    setStatus: setStatus,
    sheet: sheet,
    tabs: tabs,
    elements: elements,
    onMap: onMap,
    ready: ready,
  });
})();
