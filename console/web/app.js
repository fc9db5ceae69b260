// kiln console: a small single-page app over the console's HTTP API.
// No framework: h() builds elements, screens render into #main, and one
// EventSource feeds every live value on the page.
"use strict";
(function () {
  const S = {
    me: null, tags: [], byName: new Map(), latest: new Map(), status: null,
    down: new Map(), es: null, live: new Set(), screen: null, timers: [],
  };
  const ROW = 24;

  // --- helpers
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "style") el.style.cssText = v; // CSSOM: the page's CSP refuses style attributes
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k != null) el.append(k instanceof Node ? k : String(k));
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  // fill replaces an element's children, skipping the null ones.
  const fill = (el, ...kids) => el.replaceChildren(...kids.flat().filter((k) => k != null));
  async function api(method, path, body) {
    const opt = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    if (method !== "GET" && S.me && S.me.csrf) opt.headers["X-CSRF-Token"] = S.me.csrf;
    const r = await fetch(path, opt);
    let data = null;
    const text = await r.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
    if (r.status === 401 && path !== "api/login" && path !== "api/session") { S.me = null; showLogin(); }
    return { status: r.status, ok: r.ok, data };
  }
  function fmt(v, info) {
    if (v === undefined || v === null) return "—";
    if (typeof v === "number") {
      const s = Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 2);
      return info && info.unit ? s + " " + info.unit : s;
    }
    return String(v);
  }
  function age(ms) {
    if (!ms) return "";
    const s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return s.toFixed(0) + " s";
    if (s < 3600) return (s / 60).toFixed(0) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function tstr(ms) { const d = new Date(ms); return d.toLocaleTimeString(); }
  function download(name, text, type) {
    const a = h("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(a); a.click(); a.remove();
  }

  // quality of a tag now: good / uncertain / bad / stale, and why
  function quality(name) {
    const s = S.latest.get(name), info = S.byName.get(name);
    if (!s) return { cls: "bad", text: "not read" };
    if (info && S.down.has(info.device)) return { cls: "bad", text: "bad (device down)" };
    if (s.q !== "good") return { cls: s.q, text: s.q + (s.reason ? " (" + s.reason + (s.detail ? ": " + s.detail : "") + ")" : "") };
    if (info && info.stale_after_ms && s.t && Date.now() - s.t > info.stale_after_ms) return { cls: "stale", text: "stale" };
    return { cls: "good", text: "good" };
  }
  // why the current user cannot write a tag now, or ""
  function whyNot(info) {
    if (!info) return "unknown tag";
    if (!info.can_write) return info.why_not || "not writable";
    if (S.down.has(info.device)) return "device " + info.device + " is down";
    return "";
  }

  // --- live values: one EventSource for the page
  function connectStream() {
    if (S.es) S.es.close();
    const es = new EventSource("api/stream");
    S.es = es;
    const take = (ev) => {
      for (const s of JSON.parse(ev.data)) { S.latest.set(s.tag, s); S.live.add(s.tag); }
      for (const fn of listeners) fn();
      schedule();
    };
    es.addEventListener("snapshot", take);
    es.addEventListener("samples", take);
  }
  const listeners = new Set();
  let raf = 0;
  function schedule() { if (!raf) raf = requestAnimationFrame(paint); }
  // paint updates every element bound to a tag: data-live (value),
  // data-q (quality), data-age (age).
  function paint() {
    raf = 0;
    for (const el of document.querySelectorAll("[data-live]")) {
      const name = el.dataset.live, s = S.latest.get(name), info = S.byName.get(name);
      const text = s ? fmt(s.v, info) : "—";
      if (el.textContent !== text) el.textContent = text;
      const q = quality(name);
      el.classList.remove("good", "bad", "uncertain", "stale");
      el.classList.add(q.cls);
    }
    for (const el of document.querySelectorAll("[data-q]")) {
      const q = quality(el.dataset.q);
      el.textContent = q.text; el.className = "q " + q.cls;
    }
    for (const el of document.querySelectorAll("[data-age]")) {
      const s = S.latest.get(el.dataset.age);
      el.textContent = s ? age(s.t) : "";
    }
  }

  // --- status and the device-down banner
  async function pollStatus() {
    const r = await api("GET", "api/status");
    if (!r.ok) return;
    S.status = r.data;
    S.down.clear();
    for (const d of r.data.devices || []) if (!d.up) S.down.set(d.name, d.last_error || "unreachable");
    const b = $("#banner");
    if (b) {
      b.hidden = S.down.size === 0;
      b.textContent = [...S.down].map(([n, why]) => "Device " + n + " is down: " + why).join(" · ");
    }
    for (const fn of statusListeners) fn();
    schedule();
  }
  const statusListeners = new Set();

  // --- login and the frame
  function showLogin(msg) {
    stopScreen();
    if (S.es) { S.es.close(); S.es = null; }
    const app = $("#app");
    app.replaceChildren();
    const err = h("p", { id: "login-error", class: "error", text: msg || "" });
    const user = h("input", { id: "login-user", autocomplete: "username", required: true });
    const pw = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
    const form = h("form", { id: "login", class: "login", onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await api("POST", "api/login", { user: user.value, password: pw.value });
      if (!r.ok) { err.textContent = (r.data && r.data.message) || "login failed"; return; }
      S.me = r.data; start();
    } }, h("h1", { text: app.dataset.title || "kiln console" }), h("label", {}, "User", user), h("label", {}, "Password", pw), h("button", { id: "login-submit", type: "submit", text: "Log in" }), err);
    app.append(form);
    user.focus();
  }

  async function start() {
    const [tags] = await Promise.all([api("GET", "api/tags"), pollStatus()]);
    if (!tags.ok) return;
    S.tags = tags.data.tags;
    S.byName = new Map(S.tags.map((t) => [t.name, t]));
    const nav = [["tags", "Tags"], ["live", "Live"], ["trend", "Trends"], ["dash", "Dashboards"], ["recipes", "Recipes"], ["audit", "Audit"], ["status", "Status"]];
    if (S.me.role === "admin") nav.push(["users", "Users"]);
    const app = $("#app");
    app.replaceChildren(
      h("header", {}, h("strong", { text: S.me.title || "kiln console" }),
        h("nav", {}, nav.map(([id, label]) => h("a", { href: "#/" + id, id: "nav-" + id, text: label }))),
        h("span", { class: "me", id: "me", text: S.me.user + " (" + S.me.role + ")" }),
        h("button", { id: "logout", onclick: async () => { await api("POST", "api/logout"); S.me = null; showLogin(); } }, "Log out")),
      h("div", { id: "banner", class: "banner", hidden: true }),
      h("main", { id: "main" }),
      h("div", { id: "modal" }));
    connectStream();
    S.statusTimer = S.statusTimer || setInterval(() => S.me && pollStatus(), 2000);
    setInterval(schedule, 1000); // ages and staleness move on
    route();
  }

  function stopScreen() {
    const modal = $("#modal");
    if (modal) modal.replaceChildren();
    for (const t of S.timers) clearInterval(t);
    S.timers = [];
    listeners.clear(); statusListeners.clear();
  }
  window.addEventListener("hashchange", () => S.me && route());
  function route() {
    stopScreen();
    const [path, query] = (location.hash.slice(2) || "dash").split("?");
    const [screen, ...rest] = path.split("/");
    const params = new URLSearchParams(query || "");
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === "nav-" + screen);
    const main = $("#main");
    main.replaceChildren();
    const screens = { tags: tagScreen, live: liveScreen, trend: trendScreen, dash: dashScreen, recipes: recipeScreen, audit: auditScreen, status: statusScreen, users: userScreen };
    (screens[screen] || dashScreen)(main, decodeURIComponent(rest.join("/")), params);
    schedule();
  }

  // --- virtual list: renders only the visible rows of a long list
  function virtualList(id, rowFn) {
    const inner = h("div", { class: "vinner" });
    const box = h("div", { id, class: "vlist" }, inner);
    let rows = [];
    function render() {
      inner.style.height = rows.length * ROW + "px";
      const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 5);
      const last = Math.min(rows.length, first + Math.ceil((box.clientHeight || 600) / ROW) + 10);
      const kids = [];
      for (let i = first; i < last; i++) {
        const el = rowFn(rows[i], i);
        el.style.top = i * ROW + "px";
        el.classList.add("vrow");
        kids.push(el);
      }
      inner.replaceChildren(...kids);
      if (kids.length && !performance.getEntriesByName("kiln:rows").length) performance.mark("kiln:rows"); // for the benchmarks
      schedule();
    }
    box.addEventListener("scroll", () => requestAnimationFrame(render));
    return { el: box, set(r) { rows = r; render(); }, render, rows: () => rows };
  }

  // --- tag browser: device → group → dotted names, searchable
  function buildTree() {
    const root = { children: new Map() };
    for (const t of S.tags) {
      let n = root;
      const path = [["device", t.device], ["group", t.group], ...t.name.split(".").slice(0, -1).map((p) => ["folder", p])];
      let key = "";
      for (const [kind, name] of path) {
        key += "/" + name;
        if (!n.children.has(name)) n.children.set(name, { kind, name, key, children: new Map() });
        n = n.children.get(name);
      }
      n.children.set(t.name, { kind: "tag", name: t.name.split(".").pop(), tag: t.name, key: key + "/" + t.name });
    }
    return root;
  }
  function tagScreen(main, selected) {
    const tree = buildTree();
    const open = S.openNodes || (S.openNodes = new Set());
    const detail = h("section", { id: "tag-detail", class: "detail" }, h("p", { class: "hint", text: "Choose a tag." }));
    const search = h("input", { id: "tag-search", type: "search", placeholder: "Search " + S.tags.length + " tags…" });
    const list = virtualList("tag-list", (row) => {
      if (row.tag) {
        return h("div", { class: "tagrow" + (row.tag === selected ? " sel" : ""), style: "padding-left:" + (row.depth * 14 + 4) + "px", "data-tag": row.tag, onclick: () => { location.hash = "#/tags/" + encodeURIComponent(row.tag); } },
          h("span", { class: "name", text: row.label }), h("span", { class: "v", "data-live": row.tag }));
      }
      return h("div", { class: "node " + row.kind, style: "padding-left:" + (row.depth * 14 + 4) + "px", "data-node": row.key, onclick: () => { open.has(row.key) ? open.delete(row.key) : open.add(row.key); refresh(); } },
        (open.has(row.key) ? "▾ " : "▸ ") + row.label + " (" + row.count + ")");
    });
    function count(n) { if (n.kind === "tag") return 1; let c = 0; for (const k of n.children.values()) c += count(k); return (n.count = c); }
    count(tree);
    function flatten(n, depth, out) {
      for (const k of n.children.values()) {
        if (k.kind === "tag") out.push({ tag: k.tag, label: k.name, depth });
        else { out.push({ kind: k.kind, key: k.key, label: k.name, count: k.count, depth }); if (open.has(k.key)) flatten(k, depth + 1, out); }
      }
      return out;
    }
    let timer = 0;
    function refresh() {
      const q = search.value.trim().toLowerCase();
      if (!q) { list.set(flatten(tree, 0, [])); return; }
      const out = [];
      for (const t of S.tags) {
        if (t.name.toLowerCase().includes(q) || (t.description || "").toLowerCase().includes(q)) out.push({ tag: t.name, label: t.name, depth: 0 });
      }
      list.set(out);
    }
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 80); });
    if (selected) {
      const t = S.byName.get(selected);
      if (t) { let key = ""; for (const p of [t.device, t.group, ...t.name.split(".").slice(0, -1)]) { key += "/" + p; open.add(key); } }
    }
    main.append(h("div", { class: "split" }, h("section", { class: "browser" }, search, list.el), detail));
    refresh();
    if (selected) showTag(detail, selected);
  }
  function showTag(box, name) {
    const t = S.byName.get(name);
    if (!t) { box.replaceChildren(h("p", { class: "error", text: "No tag " + name })); return; }
    const limits = (t.min != null ? t.min : "−∞") + " … " + (t.max != null ? t.max : "+∞");
    const writeBtn = h("button", { id: "open-write", onclick: () => writeDialog(name) }, "Write…");
    const reason = h("span", { id: "write-reason", class: "reason" });
    function upd() { const why = whyNot(t); writeBtn.disabled = !!why; writeBtn.title = why; reason.textContent = why; }
    upd(); statusListeners.add(upd);
    box.replaceChildren(
      h("h2", { id: "detail-name", text: t.name }),
      h("p", { class: "desc", text: t.description || "" }),
      h("div", { class: "big", id: "detail-value", "data-live": name }),
      h("p", {}, h("span", { id: "detail-quality", "data-q": name }), " · age ", h("span", { "data-age": name })),
      h("table", { class: "props" },
        [["Device", t.device], ["Group", t.group], ["Address", t.address], ["Type", t.type], ["Unit", t.unit || ""], ["Access", t.access === "rw" ? "read/write" : "read-only"], ["Limits", limits], ["Write role", t.write_role], ["Critical", t.critical ? "yes: confirm twice" : "no"]]
          .map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: v })))),
      h("p", {}, h("a", { href: "#/trend?tags=" + encodeURIComponent(name), id: "open-trend", class: "button" }, "Trend"), " ", writeBtn, " ", reason));
    schedule();
  }

  // --- staged write dialog: value → confirm (→ confirm again) → result
  function writeDialog(name, after) {
    const t = S.byName.get(name);
    const modal = $("#modal");
    const close = () => { modal.replaceChildren(); if (after) after(); };
    const cur = S.latest.get(name);
    const input = h("input", { id: "write-value", value: cur && cur.v != null ? String(cur.v) : "", autocomplete: "off" });
    const err = h("p", { id: "write-error", class: "error" });
    const step = h("div", { class: "step" });
    const limits = (t.min != null ? "min " + t.min + " " : "") + (t.max != null ? "max " + t.max : "") || "no limits";
    function parse() {
      const s = input.value.trim();
      if (t.type === "BOOL") { if (/^(true|1|on)$/i.test(s)) return [true]; if (/^(false|0|off)$/i.test(s)) return [false]; return [null, "want true or false"]; }
      if (/^STRING/.test(t.type)) return [s];
      if (s === "" || !isFinite(Number(s))) return [null, "not a number"];
      const n = Number(s);
      if (/INT|BYTE|WORD/.test(t.type) && !Number.isInteger(n)) return [null, "want a whole number"];
      if (t.min != null && n < t.min) return [null, "refused: " + n + " is below the minimum " + t.min];
      if (t.max != null && n > t.max) return [null, "refused: " + n + " is above the maximum " + t.max];
      return [n];
    }
    function first() {
      const next = h("button", { id: "write-next", onclick: () => { const [v, why] = parse(); if (why) { err.textContent = why; return; } confirmStep(v); } }, "Next");
      input.addEventListener("input", () => { const [, why] = parse(); err.textContent = why || ""; next.disabled = !!why; });
      step.replaceChildren(
        h("p", {}, "Current: ", h("strong", { "data-live": name })),
        h("label", {}, "New value" + (t.unit ? " (" + t.unit + ")" : ""), input),
        h("p", { class: "hint", id: "write-limits", text: "Limits: " + limits + (t.unit ? " " + t.unit : "") + " · type " + t.type }),
        err, h("div", { class: "buttons" }, h("button", { onclick: close }, "Cancel"), next));
      input.focus(); schedule();
    }
    function confirmStep(v, again) {
      const c = S.latest.get(name);
      const go = h("button", { id: again ? "write-confirm2" : "write-confirm", class: "primary", onclick: () => (t.critical && !again ? confirmStep(v, true) : send(v)) }, again ? "Yes, write the critical tag" : "Confirm write");
      fill(step,
        h("p", { class: "change" }, h("span", { text: fmt(c && c.v, t) }), " → ", h("strong", { id: "write-new", text: fmt(v, t) })),
        again ? h("p", { class: "warn", id: "critical-warning", text: name + " is critical. Confirm a second time." }) : null,
        h("div", { class: "buttons" }, h("button", { onclick: first }, "Back"), go));
    }
    async function send(v) {
      const status = h("p", { id: "write-status", class: "pending", text: "pending…" });
      step.replaceChildren(status);
      const r = await api("POST", "api/writes", { tag: name, value: v, confirm: !!t.critical });
      const res = r.data || {};
      status.className = res.status || "failed";
      status.textContent = (res.status || "failed") + (res.status === "confirmed" ? ": read back " + fmt(res.read_back, t) : ": " + (res.message || ""));
      step.append(h("div", { class: "buttons" }, h("button", { id: "write-close", onclick: close }, "Close")));
    }
    modal.replaceChildren(h("div", { class: "overlay" }, h("div", { class: "dialog", id: "write-dialog", role: "dialog" }, h("h3", { text: "Write " + name }), step)));
    first();
  }

  // --- live grid
  function liveScreen(main) {
    const filter = h("input", { id: "live-filter", type: "search", placeholder: "Filter tags…" });
    const list = virtualList("live-grid", (t) => h("div", { class: "liverow", "data-tag": t.name },
      h("span", { class: "name", text: t.name }), h("span", { class: "v", "data-live": t.name }),
      h("span", { "data-q": t.name }), h("span", { class: "age", "data-age": t.name })));
    const set = () => { const q = filter.value.toLowerCase(); list.set(S.tags.filter((t) => t.name.toLowerCase().includes(q))); };
    filter.addEventListener("input", set);
    main.append(h("div", { class: "liveheader" }, filter, h("span", { class: "hint", text: "value · quality · age" })), list.el);
    set();
  }

  // --- trends
  function trendScreen(main, _, params) {
    const tags = (params.get("tags") || "").split(",").filter((n) => S.byName.has(n));
    const span = Number(params.get("span")) || 10 * 60 * 1000;
    const chart = trendChart(tags, { span, id: "trend-canvas", big: true });
    const add = h("input", { id: "trend-add", list: "trend-tags", placeholder: "Add a tag…" });
    const dl = h("datalist", { id: "trend-tags" }, S.tags.slice(0, 5000).map((t) => h("option", { value: t.name })));
    add.addEventListener("change", () => { if (S.byName.has(add.value)) location.hash = "#/trend?tags=" + encodeURIComponent([...tags, add.value].join(",")); });
    const ranges = [["5 min", 5 * 60e3], ["1 h", 3600e3], ["8 h", 8 * 3600e3], ["1 day", 86400e3]];
    main.append(h("div", { class: "trendbar" }, add, dl, ranges.map(([l, ms]) => h("button", { onclick: () => chart.setSpan(ms) }, l)),
      h("button", { id: "trend-live", onclick: () => chart.goLive() }, "Live")), chart.el);
  }
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
  // trendChart draws buckets (min/max envelope and mean) fetched for the
  // visible span at the canvas's resolution, a live tail from the stream,
  // bad-quality spans and write events. Wheel zooms, drag pans.
  function trendChart(tags, opt) {
    const canvas = h("canvas", { id: opt.id, class: "trend" });
    const legend = h("div", { class: "legend" }, tags.map((n, i) => h("span", { style: "color:" + COLORS[i % COLORS.length] }, "■ " + n + " ", h("b", { "data-live": n }))));
    const events = h("ul", { id: opt.big ? "trend-events" : null, class: "events" });
    const el = h("div", { class: "trendbox" }, legend, canvas, opt.big ? events : null);
    const st = { to: Date.now(), span: opt.span || 600e3, live: true, series: [], writes: [], tail: new Map(), seq: 0 };
    for (const n of tags) st.tail.set(n, []);
    let fetchTimer = 0;
    async function load() {
      const my = ++st.seq;
      const from = Math.round(st.to - st.span), to = Math.round(st.to);
      const n = Math.max(10, Math.min(2000, Math.floor((canvas.clientWidth || 600) / 3)));
      if (!tags.length) return draw();
      const q = tags.map((t) => "tag=" + encodeURIComponent(t)).join("&");
      const [hist, ...aud] = await Promise.all([api("GET", "api/history?" + q + "&from=" + from + "&to=" + to + "&buckets=" + n),
        ...tags.map((t) => api("GET", "api/audit?action=write&tag=" + encodeURIComponent(t) + "&from=" + from + "&limit=200"))]);
      if (my !== st.seq) return;
      if (hist.ok) { st.series = hist.data; for (const n of tags) st.tail.set(n, []); }
      st.writes = aud.flatMap((r) => (r.ok ? r.data : [])).map((a) => ({ t: Date.parse(a.time), text: a.who + ": " + a.tag + " " + (a.old || "?") + " → " + a.new + " (" + a.result + ")" }));
      if (opt.big) events.replaceChildren(...st.writes.map((w) => h("li", { class: "write-event", text: tstr(w.t) + " " + w.text })));
      canvas.dataset.buckets = st.series.reduce((a, s) => a + (s.buckets || []).filter((b) => b.n > 0).length, 0);
      canvas.dataset.writes = st.writes.length;
      draw();
      performance.mark("kiln:trend-drawn"); // for the benchmarks
    }
    function later() { clearTimeout(fetchTimer); fetchTimer = setTimeout(load, 150); }
    const onLive = () => {
      if (!st.live) return;
      for (const n of tags) {
        const s = S.latest.get(n);
        const tail = st.tail.get(n);
        if (s && typeof s.v === "number" && (!tail.length || tail[tail.length - 1].t !== s.t)) tail.push({ t: s.t, v: s.v, q: s.q });
      }
      st.to = Date.now();
      drawSoon();
    };
    let pend = 0;
    function drawSoon() { if (!pend) pend = requestAnimationFrame(() => { pend = 0; draw(); }); }
    listeners.add(onLive);
    S.timers.push(setInterval(() => { if (st.live) { st.to = Date.now(); load(); } }, opt.big ? 5000 : 15000));
    function draw() {
      const w = canvas.clientWidth || 600, hh = canvas.clientHeight || 300, dpr = window.devicePixelRatio || 1;
      if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = hh * dpr; }
      const g = canvas.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, hh);
      const from = st.to - st.span, L = 50, R = w - 8, T = 8, B = hh - 20;
      let lo = Infinity, hi = -Infinity;
      for (const s of st.series) for (const b of s.buckets || []) if (b.n > b.bad) { lo = Math.min(lo, b.min); hi = Math.max(hi, b.max); }
      for (const tail of st.tail.values()) for (const p of tail) { lo = Math.min(lo, p.v); hi = Math.max(hi, p.v); }
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (hi === lo) { hi += 1; lo -= 1; }
      const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
      const X = (t) => L + ((t - from) / st.span) * (R - L), Y = (v) => B - ((v - lo) / (hi - lo)) * (B - T);
      g.strokeStyle = "#ccc"; g.fillStyle = "#555"; g.font = "11px sans-serif"; g.lineWidth = 1;
      for (let i = 0; i <= 4; i++) { const v = lo + ((hi - lo) * i) / 4, y = Y(v); g.beginPath(); g.moveTo(L, y); g.lineTo(R, y); g.stroke(); g.fillText(v.toFixed(1), 2, y + 4); }
      for (let i = 0; i <= 4; i++) { const t = from + (st.span * i) / 4; g.fillText(tstr(t), Math.min(X(t), R - 60), hh - 4); }
      st.series.forEach((s, i) => {
        const col = COLORS[i % COLORS.length];
        const bs = (s.buckets || []).filter((b) => b.n > 0);
        for (const b of s.buckets || []) if (b.bad > 0) { g.fillStyle = "rgba(220,0,0,0.15)"; g.fillRect(X(b.t0), T, Math.max(1, X(b.t1) - X(b.t0)), B - T); }
        const good = bs.filter((b) => b.n > b.bad);
        if (good.length) {
          g.fillStyle = col + "33"; g.beginPath();
          good.forEach((b, k) => (k ? g.lineTo : g.moveTo).call(g, X((b.t0 + b.t1) / 2), Y(b.max)));
          for (let k = good.length - 1; k >= 0; k--) g.lineTo(X((good[k].t0 + good[k].t1) / 2), Y(good[k].min));
          g.closePath(); g.fill();
          g.strokeStyle = col; g.lineWidth = 1.5; g.beginPath();
          good.forEach((b, k) => (k ? g.lineTo : g.moveTo).call(g, X((b.t0 + b.t1) / 2), Y(b.mean)));
          g.stroke();
        }
        const tail = st.tail.get(s.tag) || [];
        if (tail.length) {
          g.strokeStyle = col; g.beginPath();
          if (good.length) g.moveTo(X((good[good.length - 1].t0 + good[good.length - 1].t1) / 2), Y(good[good.length - 1].last));
          else g.moveTo(X(tail[0].t), Y(tail[0].v));
          for (const p of tail) g.lineTo(X(p.t), Y(p.v));
          g.stroke();
        }
      });
      g.strokeStyle = "#e67e22"; g.fillStyle = "#e67e22"; g.setLineDash([4, 3]);
      for (const wv of st.writes) {
        if (wv.t < from) continue;
        const x = X(wv.t), label = "✎ " + wv.text, tw = g.measureText(label).width;
        g.beginPath(); g.moveTo(x, T); g.lineTo(x, B); g.stroke();
        g.fillText(label, x + 3 + tw > R ? Math.max(L, x - 3 - tw) : x + 3, T + 12);
      }
      g.setLineDash([]);
    }
    canvas.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const rect = canvas.getBoundingClientRect(), f = ev.deltaY > 0 ? 1.25 : 0.8;
      const at = st.to - st.span + ((ev.clientX - rect.left - 50) / (rect.width - 58)) * st.span;
      const ns = Math.max(10e3, Math.min(400 * 86400e3, st.span * f));
      st.to = Math.min(Date.now(), at + (st.to - at) * (ns / st.span)); st.span = ns; st.live = false; draw(); later();
    }, { passive: false });
    let drag = null;
    canvas.addEventListener("pointerdown", (ev) => { drag = { x: ev.clientX, to: st.to }; canvas.setPointerCapture(ev.pointerId); });
    canvas.addEventListener("pointermove", (ev) => { if (!drag) return; const dx = ev.clientX - drag.x; st.to = Math.min(Date.now(), drag.to - (dx / (canvas.clientWidth - 58)) * st.span); st.live = false; draw(); });
    canvas.addEventListener("pointerup", () => { if (drag) { drag = null; later(); } });
    new ResizeObserver(() => drawSoon()).observe(canvas);
    setTimeout(load, 0);
    return { el, setSpan(ms) { st.span = ms; st.to = Date.now(); st.live = true; load(); }, goLive() { st.live = true; st.to = Date.now(); load(); }, reload: load };
  }

  // --- dashboards
  async function dashScreen(main, id) {
    const r = await api("GET", "api/dashboards");
    if (!r.ok) return;
    const list = r.data;
    id = id || S.lastDash || (list[0] && list[0].id);
    S.lastDash = id;
    let doc = list.find((d) => d.id === id) || list[0];
    if (!doc) return;
    let body = JSON.parse(JSON.stringify(doc.body));
    body.widgets = body.widgets || [];
    let editing = false, saved = "";
    const canShare = S.me.role === "engineer" || S.me.role === "admin";
    const picker = h("select", { id: "dash-select", onchange: () => { location.hash = "#/dash/" + picker.value; } },
      list.map((d) => h("option", { value: d.id, selected: d.id === doc.id }, d.name + (d.owner ? " (mine)" : ""))));
    const grid = h("div", { id: "dash-grid", class: "grid" });
    const tools = h("div", { class: "dashtools" });
    const importer = h("input", { type: "file", id: "dash-import", accept: "application/json", hidden: true, onchange: async () => {
      const f = importer.files[0]; if (!f) return;
      let parsed; try { parsed = JSON.parse(await f.text()); } catch (e) { alert("Not JSON: " + e.message); return; }
      const res = await api("POST", "api/dashboards", parsed);
      if (res.ok) location.hash = "#/dash/" + res.data.id; else alert(res.data.message);
    } });
    function render() {
      grid.style.gridTemplateColumns = "repeat(" + (body.columns || 12) + ", 1fr)";
      grid.replaceChildren(...body.widgets.map((w, i) => widget(w, i)));
      tools.replaceChildren(picker,
        h("button", { id: "dash-edit", onclick: () => { editing = !editing; render(); } }, editing ? "Done" : "Edit"),
        h("button", { id: "dash-new", onclick: async () => {
          const name = prompt("Name of the new dashboard", "My dashboard"); if (!name) return;
          const res = await api("POST", "api/dashboards", { name, body: { columns: 12, widgets: [] } });
          if (res.ok) location.hash = "#/dash/" + res.data.id;
        } }, "New"),
        h("button", { id: "dash-export", onclick: () => download(doc.name + ".json", JSON.stringify({ name: doc.name, body }, null, 2), "application/json") }, "Export"),
        h("button", { id: "dash-import-button", onclick: () => importer.click() }, "Import"), importer,
        ...(editing ? [addForm()] : []));
      schedule();
    }
    // save keeps a shared dashboard shared for engineers; anyone else
    // saves a copy of their own.
    async function save() {
      const shared = !doc.owner;
      let res;
      if (shared && !canShare) {
        res = await api("POST", "api/dashboards", { name: doc.name + " (mine)", shared: false, body });
        if (res.ok) { doc = res.data; S.lastDash = doc.id; history.replaceState(null, "", "#/dash/" + doc.id); }
      } else {
        res = await api("PUT", "api/dashboards/" + doc.id, { name: doc.name, shared, body });
        if (res.ok) doc = res.data;
      }
      saved = res.ok ? "saved" : res.data.message;
    }
    function addForm() {
      const type = h("select", { id: "widget-type" }, ["value", "gauge", "trend", "setpoint", "status", "alarms"].map((t) => h("option", { value: t }, t)));
      const tag = h("input", { id: "widget-tag", list: "widget-tags", placeholder: "tag" });
      const dl = h("datalist", { id: "widget-tags" }, S.tags.slice(0, 5000).map((t) => h("option", { value: t.name })));
      return h("span", { class: "addform" }, type, tag, dl, h("button", { id: "widget-add", onclick: async () => {
        const y = body.widgets.reduce((m, w) => Math.max(m, w.y + w.h), 0);
        const t = type.value, big = t === "trend" || t === "alarms";
        const w = { type: t, title: tag.value || t, x: 0, y, w: big ? 8 : 3, h: big ? 4 : 2 };
        if (t === "trend") w.tags = tag.value ? [tag.value] : []; else if (t !== "status" && t !== "alarms") w.tag = tag.value;
        body.widgets.push(w); await save(); render();
      } }, "Add widget"), h("span", { id: "dash-msg", class: "hint", text: saved }));
    }
    function widget(w, i) {
      const box = h("div", { class: "widget " + w.type, style: "grid-column:" + (w.x + 1) + " / span " + w.w + ";grid-row:" + (w.y + 1) + " / span " + w.h, "data-widget": i },
        h("div", { class: "wtitle" }, w.title || w.type, editing ? h("button", { class: "remove", title: "Remove", onclick: async () => { body.widgets.splice(i, 1); await save(); render(); } }, "×") : null));
      const info = S.byName.get(w.tag);
      switch (w.type) {
        case "value": box.append(h("div", { class: "big", "data-live": w.tag }), h("div", { "data-q": w.tag })); break;
        case "gauge": box.append(gauge(w.tag, info)); break;
        case "setpoint": {
          const btn = h("button", { class: "setbtn", onclick: () => writeDialog(w.tag) }, "Set…");
          const why = h("span", { class: "reason" });
          const upd = () => { const r = whyNot(info); btn.disabled = !!r; btn.title = r; why.textContent = r; };
          upd(); statusListeners.add(upd);
          box.append(h("div", { class: "big", "data-live": w.tag }), btn, why); break;
        }
        case "trend": box.append(trendChart(w.tags || [], { span: 10 * 60e3 }).el); break;
        case "status": { const d = h("div", { class: "devs" }); const upd = () => d.replaceChildren(...((S.status && S.status.devices) || []).map((x) => h("div", { class: x.up ? "good" : "bad", text: x.name + ": " + (x.up ? "up" : "down — " + x.last_error) }))); upd(); statusListeners.add(upd); box.append(d); break; }
        case "alarms": { const d = h("ul", { class: "alarms" }); const upd = () => d.replaceChildren(...alarms().map((a) => h("li", { class: "bad", text: a }))); upd(); listeners.add(upd); statusListeners.add(upd); box.append(d); break; }
      }
      return box;
    }
    main.append(tools, grid);
    render();
  }
  function alarms() {
    const out = [];
    for (const t of S.tags) {
      const s = S.latest.get(t.name);
      if (!s) continue;
      const q = quality(t.name);
      if (q.cls === "bad") out.push(t.name + ": " + q.text);
      else if (typeof s.v === "number" && ((t.min != null && s.v < t.min) || (t.max != null && s.v > t.max))) out.push(t.name + ": " + fmt(s.v, t) + " beyond limits");
      if (out.length >= 100) break;
    }
    return out;
  }
  function gauge(name, info) {
    const bar = h("div", { class: "fill" });
    const el = h("div", { class: "gauge" }, h("div", { class: "big", "data-live": name }), h("div", { class: "bar" }, bar), h("div", { class: "hint", text: info ? (info.min ?? 0) + " … " + (info.max ?? 100) + " " + (info.unit || "") : "" }));
    const upd = () => { const s = S.latest.get(name); if (!s || !info) return; const lo = info.min ?? 0, hi = info.max ?? 100; bar.style.width = Math.max(0, Math.min(100, ((s.v - lo) / (hi - lo)) * 100)) + "%"; };
    listeners.add(upd); upd();
    return el;
  }

  // --- recipes
  async function recipeScreen(main) {
    const r = await api("GET", "api/recipes");
    if (!r.ok) return;
    const engineer = S.me.role === "engineer" || S.me.role === "admin";
    const out = h("div", { id: "recipe-result" });
    main.append(h("h2", { text: "Recipes" }), h("table", { class: "list", id: "recipes" }, r.data.map((d) => h("tr", {},
      h("td", { text: d.name }), h("td", { text: (d.body.values || []).map((v) => v.tag + " = " + JSON.stringify(v.value)).join(", ") }),
      h("td", {}, h("button", { disabled: !engineer, title: engineer ? "" : "engineers run recipes", onclick: async () => {
        const critical = (d.body.values || []).some((v) => (S.byName.get(v.tag) || {}).critical);
        if (!confirm("Write recipe " + d.name + "?" + (critical ? " It sets critical tags." : ""))) return;
        out.replaceChildren(h("p", { class: "pending", text: "pending…" }));
        const res = await api("POST", "api/recipes/" + d.id + "/run", { confirm: critical });
        out.replaceChildren(h("p", { class: res.data.status, text: "Recipe " + d.name + ": " + res.data.status }),
          h("ul", {}, (res.data.tags || []).map((t) => h("li", { class: t.status, text: t.tag + ": " + t.status + (t.message ? " — " + t.message : "") }))));
      } }, "Run"))))), out);
    if (!engineer) return;
    const name = h("input", { id: "recipe-name", placeholder: "Recipe name" });
    const rows = h("div", {});
    const addRow = () => rows.append(h("div", { class: "reciperow" }, h("input", { class: "rtag", list: "recipe-tags", placeholder: "tag" }), h("input", { class: "rval", placeholder: "value" })));
    addRow();
    main.append(h("h3", { text: "New recipe" }), name, rows, h("datalist", { id: "recipe-tags" }, S.tags.filter((t) => t.access === "rw").map((t) => h("option", { value: t.name }))),
      h("button", { onclick: addRow }, "Add tag"), h("button", { id: "recipe-save", onclick: async () => {
        const values = [...rows.children].map((row) => { const v = $(".rval", row).value; let val; try { val = JSON.parse(v); } catch (e) { val = v; } return { tag: $(".rtag", row).value, value: val }; }).filter((v) => v.tag);
        const res = await api("POST", "api/recipes", { name: name.value, body: { values } });
        if (res.ok) route(); else out.replaceChildren(h("p", { class: "error", text: res.data.message + (res.data.field ? " (" + res.data.field + ")" : "") }));
      } }, "Save recipe"));
  }

  // --- audit trail
  function auditScreen(main, _, params) {
    const f = { tag: h("input", { id: "audit-tag", placeholder: "tag", value: params.get("tag") || "" }), who: h("input", { id: "audit-who", placeholder: "who" }),
      action: h("select", { id: "audit-action" }, ["", "write", "recipe", "login", "logout", "user", "dashboard_edit", "recipe_edit"].map((a) => h("option", { value: a }, a || "any action"))) };
    const table = h("table", { class: "list", id: "audit-table" });
    const csv = h("a", { id: "audit-csv", class: "button", text: "CSV" });
    async function load() {
      const q = new URLSearchParams();
      for (const [k, el] of Object.entries(f)) if (el.value) q.set(k, el.value);
      csv.href = "api/audit.csv?" + q;
      const r = await api("GET", "api/audit?" + q);
      if (!r.ok) return;
      table.replaceChildren(h("tr", {}, ["time", "who", "channel", "action", "tag", "old → new", "read back", "result"].map((c) => h("th", { text: c }))),
        ...r.data.map((a) => h("tr", { class: "audit-row" }, h("td", { text: new Date(a.time).toLocaleString() }), h("td", { text: a.who }), h("td", { text: a.channel }), h("td", { text: a.action }),
          h("td", { text: a.tag || "" }), h("td", { text: a.old || a.new ? (a.old || "?") + " → " + (a.new || "") : "" }), h("td", { text: a.read_back || "" }), h("td", { class: a.result === "ok" ? "good" : "bad", text: a.result + (a.detail ? " · " + a.detail : "") }))));
    }
    for (const el of Object.values(f)) el.addEventListener("change", load);
    main.append(h("div", { class: "filters" }, f.tag, f.who, f.action, h("button", { id: "audit-refresh", onclick: load }, "Refresh"), csv), table);
    load();
  }

  // --- status
  function statusScreen(main) {
    const box = h("div", { id: "status" });
    const node = (n) => h("li", {}, n.name + ": " + n.state + (n.restarts ? " (" + n.restarts + " restarts)" : ""), n.children ? h("ul", {}, n.children.map(node)) : null);
    const upd = () => {
      const s = S.status; if (!s) return;
      fill(box,
        h("h3", { text: "Devices" }), h("table", { class: "list", id: "status-devices" }, h("tr", {}, ["device", "driver", "endpoint", "state", "breaker", "last error"].map((c) => h("th", { text: c }))),
          s.devices.map((d) => h("tr", {}, h("td", { text: d.name }), h("td", { text: d.driver }), h("td", { text: d.endpoint }), h("td", { class: d.up ? "good" : "bad", text: d.up ? "connected" : "down" }), h("td", { text: d.breaker || "" }), h("td", { text: d.last_error || "" })))),
        h("h3", { text: "Scan groups" }), h("table", { class: "list" }, h("tr", {}, ["group", "rate", "scans", "overruns", "read errors"].map((c) => h("th", { text: c }))),
          s.groups.map((g) => h("tr", {}, h("td", { text: g.name }), h("td", { text: g.rate_ns / 1e6 + " ms" }), h("td", { text: g.scans }), h("td", { text: g.overruns }), h("td", { text: g.read_errors })))),
        s.spool ? h("p", { text: "Spool: " + s.spool.depth + " batches, oldest " + (s.spool.oldest_age_ns / 1e9).toFixed(0) + " s" }) : null,
        s.uplink ? h("p", { text: "Uplink: " + s.uplink.state + (s.uplink.last_error ? " — " + s.uplink.last_error : "") }) : null,
        s.supervisor ? h("div", {}, h("h3", { text: "Supervisor tree" }), h("ul", { class: "tree" }, node(s.supervisor))) : null);
    };
    upd(); statusListeners.add(upd);
    main.append(box);
  }

  // --- users (admins)
  async function userScreen(main) {
    const r = await api("GET", "api/users");
    if (!r.ok) { main.append(h("p", { class: "error", text: r.data.message })); return; }
    const roles = ["viewer", "operator", "engineer", "admin"];
    const msg = h("p", { id: "user-msg", class: "hint" });
    main.append(h("table", { class: "list", id: "users" }, r.data.map((u) => h("tr", {}, h("td", { text: u.name }),
      h("td", {}, h("select", { onchange: async (ev) => { const res = await api("PUT", "api/users/" + encodeURIComponent(u.name), { role: ev.target.value }); msg.textContent = res.ok ? "saved" : res.data.message; } }, roles.map((x) => h("option", { value: x, selected: x === u.role }, x)))),
      h("td", {}, h("button", { onclick: async () => { if (confirm("Delete " + u.name + "?")) { await api("DELETE", "api/users/" + encodeURIComponent(u.name)); route(); } } }, "Delete"))))));
    const name = h("input", { id: "new-user", placeholder: "name" }), pw = h("input", { id: "new-password", type: "password", placeholder: "password (8+)" });
    const role = h("select", { id: "new-role" }, roles.map((x) => h("option", { value: x }, x)));
    main.append(h("h3", { text: "New user" }), name, pw, role, h("button", { id: "user-create", onclick: async () => {
      const res = await api("POST", "api/users", { name: name.value, password: pw.value, role: role.value });
      if (res.ok) route(); else msg.textContent = res.data.message;
    } }, "Create"), msg);
  }

  // --- boot
  (async function boot() {
    const r = await api("GET", "api/session");
    if (r.ok) { S.me = r.data; start(); } else showLogin();
  })();
})();
