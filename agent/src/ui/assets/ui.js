/* bpfadvisor web UI.
 *
 * Everything on the page comes from the agent's own REST API, asked for sparingly: the shown
 * container's newest v2 stats every 2 s (a few samples, not the whole history), its process list
 * every 10 s while the list is on screen, the event stream (pushed, no
 * polling), and on the landing page a summary of all containers every 10 s. A hidden tab stops all
 * of it; showing it again catches up.
 *
 * State worth sharing lives in the URL: the container in the path; the chart range (`range`),
 * process sort (`ps`), subcontainer filter (`filter`), event kinds (`events`) and theme (`theme`)
 * in the query.
 */
(() => {
  'use strict';

  const body = document.body;
  const PREFIX = body.dataset.prefix || '';
  const VIEW = body.dataset.view || 'container';
  const NAME = body.dataset.name || '/';
  const RUNTIME = body.dataset.runtime || '';
  const API = PREFIX + '/api';
  const IS_ROOT = VIEW === 'container' && NAME === '/';
  const params = new URLSearchParams(location.search);

  const STATS_MS = 2000;
  const STATS_COUNT = 3;
  // Listing processes walks the host's procfs (~15 ms of agent CPU at 1000 containers).
  const PS_MS = 10000;
  const SUMMARY_MS = 10000;
  const STORAGE_MS = 30000;
  const SPEC_REFRESH_MS = IS_ROOT || VIEW === 'runtime' ? 30000 : 5000;
  const INDEX_MAX_AGE_MS = 30000;
  const MAX_EVENTS = 200;
  const PS_ROWS = 50;
  const TREE_MAX_NODES = 500;
  const RANGES = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600 };
  const KEEP_SECONDS = 3600;
  const UNLIMITED = 2 ** 62;

  // ------------------------------------------------------------------ small helpers

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  function storageGet(k) {
    try { return localStorage.getItem(k); } catch (_) { return null; }
  }
  function storageSet(k, v) {
    try { localStorage.setItem(k, v); } catch (_) { /* private mode */ }
  }

  /** Updates one query parameter in place (no reload, no history entry). */
  function setParam(k, v) {
    if (v == null || v === '') params.delete(k); else params.set(k, v);
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
  }

  /** A container name as a URL path (each segment escaped). */
  function encName(name) {
    return name.split('/').map(encodeURIComponent).join('/');
  }

  /** A link to another page, keeping the view settings that are not page-specific. */
  function pageHref(path) {
    const keep = new URLSearchParams();
    for (const k of ['theme', 'range']) if (params.has(k)) keep.set(k, params.get(k));
    const q = keep.toString();
    return PREFIX + path + (q ? '?' + q : '');
  }
  const containerHref = (name) => pageHref('/containers' + encName(name));

  const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return '–';
    let x = Math.abs(v);
    let i = 0;
    while (x >= 1024 && i < BYTE_UNITS.length - 1) { x /= 1024; i++; }
    const digits = i === 0 ? 0 : x < 10 ? 2 : x < 100 ? 1 : 0;
    return (v < 0 ? '-' : '') + x.toFixed(digits) + ' ' + BYTE_UNITS[i];
  }
  const fmtRate = (v) => (v == null ? '–' : fmtBytes(v) + '/s');
  function fmtNum(v) {
    if (v == null || !isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return String(+v.toFixed(a < 1 ? 3 : 2));
  }
  const fmtPerSec = (v) => (v == null ? '–' : fmtNum(v) + '/s');
  function fmtCores(v) {
    if (v == null || !isFinite(v)) return '–';
    return v.toFixed(v !== 0 && Math.abs(v) < 1 ? 3 : 2);
  }
  const fmtPct = (v) => (v == null || !isFinite(v) ? '–' : v.toFixed(v < 10 ? 1 : 0) + ' %');
  const pad2 = (n) => String(n).padStart(2, '0');
  function fmtClock(sec) {
    const d = new Date(sec * 1000);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }
  function fmtDate(sec) {
    if (!sec || sec < 1) return '–';
    const d = new Date(sec * 1000);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + fmtClock(sec);
  }
  function fmtAgo(sec) {
    if (!sec || sec < 1) return '';
    let s = Math.max(0, Date.now() / 1000 - sec);
    const parts = [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
    for (const [n, u] of parts) if (s >= n) return Math.floor(s / n) + u + ' ago';
    return 'just now';
  }

  /** RFC 3339 with up to nanoseconds → seconds since the epoch (sub-millisecond kept). */
  function parseTs(s) {
    const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(s || '');
    if (!m) return NaN;
    return Date.parse(m[1] + m[3]) / 1000 + (m[2] ? parseFloat('0' + m[2]) : 0);
  }

  const lastOf = (arr) => {
    for (let i = arr.length - 1; i >= 0; i--) if (arr[i] != null) return arr[i];
    return null;
  };

  async function getJSON(path, init) {
    const r = await fetch(API + path, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, init));
    if (!r.ok) {
      const text = (await r.text()).trim();
      const err = new Error(text || r.status + ' ' + r.statusText);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }

  function showBanner(text, bad) {
    const b = document.getElementById('banner');
    b.textContent = text;
    b.className = 'banner' + (bad ? ' bad' : '');
    b.hidden = !text;
  }

  /** The part of a container's name a person recognises: its runtime name, else the last segment. */
  function aliasOf(name, spec) {
    const aliases = (spec && spec.aliases) || [];
    let best = null;
    for (const a of aliases) if (!name.includes(a) && (best == null || a.length <= best.length)) best = a;
    return best;
  }
  function labelOf(name, spec) {
    const alias = aliasOf(name, spec);
    if (alias) return alias;
    if (name === '/') return '/';
    return name.slice(name.lastIndexOf('/') + 1);
  }

  function bar(fraction) {
    const f = Math.max(0, Math.min(1, fraction || 0));
    const fill = h('span');
    fill.style.width = (f * 100).toFixed(1) + '%';
    return h('div', { class: 'bar' + (f > 0.9 ? ' bad' : f > 0.75 ? ' warn' : ''), role: 'meter',
      'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(f * 100) }, fill);
  }
  function barRow(label, value, fraction, href) {
    return h('div', { class: 'barrow' },
      h('span', { class: 'label' }, href ? h('a', { href }, label) : label),
      h('span', { class: 'value' }, value),
      bar(fraction));
  }

  function card(id, title, ...kids) {
    return h('section', { class: 'card', id },
      h('div', { class: 'card-head' }, h('h2', null, title)), ...kids);
  }

  // ------------------------------------------------------------------ polling

  const pollers = [];
  /** Runs `fn` now and every `ms` after it finished, only while the page is visible (and, once
   *  `watch`ing an element, only while that element is on screen). */
  class Poller {
    constructor(ms, fn) {
      this.ms = ms; this.fn = fn; this.timer = null; this.busy = false; this.on = false;
      this.inView = true;
      pollers.push(this);
    }
    start() { this.on = true; this.run(); }
    stop() { this.on = false; clearTimeout(this.timer); this.timer = null; }
    now() { if (this.on) this.run(); }
    watch(el) {
      if (!el || !window.IntersectionObserver) return;
      this.inView = false;
      new IntersectionObserver((entries) => {
        for (const e of entries) {
          this.inView = e.isIntersecting;
          if (this.inView) this.run();
        }
      }, { rootMargin: '200px' }).observe(el);
    }
    async run() {
      clearTimeout(this.timer);
      this.timer = null;
      if (!this.on || document.hidden || this.busy || !this.inView) return;
      this.busy = true;
      try { await this.fn(); } catch (e) { console.warn(e); }
      this.busy = false;
      if (this.on && !document.hidden) this.timer = setTimeout(() => this.run(), this.ms);
    }
  }

  // ------------------------------------------------------------------ theme

  const darkQuery = window.matchMedia ? matchMedia('(prefers-color-scheme: dark)') : null;
  const charts = [];
  function themeName() {
    return params.get('theme') || storageGet('bpfadvisor-theme') ||
      (darkQuery && darkQuery.matches ? 'dark' : 'light');
  }
  function applyTheme() {
    document.documentElement.dataset.theme = themeName();
    for (const c of charts) c.restyle();
  }
  applyTheme();
  if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener('change', applyTheme);
  document.getElementById('theme').addEventListener('click', () => {
    const next = themeName() === 'dark' ? 'light' : 'dark';
    storageSet('bpfadvisor-theme', next);
    if (params.has('theme')) setParam('theme', next);
    applyTheme();
  });

  // ------------------------------------------------------------------ charts

  const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];

  /** One chart card over uPlot. `update(xs, series)` redraws; the card's `data-points` and
   *  `data-max` say what it drew (the newest value is in its header). */
  class Chart {
    constructor(id, title, fmt, opts) {
      this.id = id;
      this.fmt = fmt;
      this.fmt2 = (opts && opts.fmt2) || fmt;
      this.u = null;
      this.sig = '';
      this.data = null;
      this.width = 0;
      this.now = h('span', { class: 'pill' });
      this.plot = h('div', { class: 'plot' }, h('div', { class: 'empty' }, 'waiting for samples…'));
      this.extra = h('div', { class: 'extra' });
      this.el = h('section', { class: 'card chart', id: 'chart-' + id, dataset: { chart: id, points: '0' } },
        h('div', { class: 'card-head' }, h('h2', null, title), this.now), this.plot, this.extra);
      charts.push(this);
      if (window.ResizeObserver) {
        new ResizeObserver(() => {
          const w = this.plot.clientWidth;
          if (this.u && w && Math.abs(w - this.width) > 2) {
            this.width = w;
            this.u.setSize({ width: w, height: 200 });
          }
        }).observe(this.plot);
      }
    }

    empty(text) {
      this.destroy();
      this.plot.replaceChildren(h('div', { class: 'empty' }, text));
      this.el.dataset.points = '0';
      this.el.dataset.max = '';
      this.now.textContent = '';
    }

    update(xs, series) {
      if (!xs.length || !series.length) return this.empty('waiting for samples…');
      const sig = series.map((s) => s.label + '|' + (s.scale || 'y') + '|' + (s.dash ? 1 : 0)).join(';');
      this.data = { xs, series };
      if (!this.u || sig !== this.sig) {
        this.sig = sig;
        this.create();
      } else {
        this.u.setData([xs, ...series.map((s) => s.values)]);
      }
      let points = 0;
      let max = -Infinity;
      for (const v of series[0].values) if (v != null) points++;
      for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
      this.el.dataset.points = String(points);
      this.el.dataset.max = isFinite(max) ? String(max) : '';
      const newest = lastOf(series[0].values);
      this.now.textContent = newest == null ? '' : series[0].label + ' ' + (series[0].scale === 'y2' ? this.fmt2 : this.fmt)(newest);
    }

    restyle() { if (this.data) this.create(); }

    destroy() {
      if (this.u) { this.u.destroy(); this.u = null; }
      this.sig = '';
    }

    create() {
      if (typeof uPlot === 'undefined') return;
      const { xs, series } = this.data;
      this.destroy();
      this.sig = series.map((s) => s.label + '|' + (s.scale || 'y') + '|' + (s.dash ? 1 : 0)).join(';');
      const css = getComputedStyle(document.documentElement);
      const v = (n) => css.getPropertyValue(n).trim();
      const fg = v('--muted');
      const grid = v('--grid');
      const colours = PALETTE.map(v);
      const hasY2 = series.some((s) => s.scale === 'y2');
      const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        font: '11px system-ui, sans-serif' };
      const range = (u, min, max) => [Math.min(0, min || 0), (max || 0) > 0 ? max * 1.08 : 1];
      const scales = { x: { time: true }, y: { range } };
      const axes = [Object.assign({}, axis),
        Object.assign({}, axis, { scale: 'y', size: 70, values: (u, vals) => vals.map((x) => this.fmt(x)) })];
      if (hasY2) {
        scales.y2 = { range };
        axes.push(Object.assign({}, axis, { scale: 'y2', side: 1, size: 72, grid: { show: false },
          values: (u, vals) => vals.map((x) => this.fmt2(x)) }));
      }
      const opts = {
        width: Math.max(200, this.plot.clientWidth || 400),
        height: 200,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales,
        axes,
        series: [{ value: (u, x) => (x == null ? '–' : fmtClock(x)) }].concat(series.map((s, i) => ({
          label: s.label,
          scale: s.scale || 'y',
          stroke: colours[(s.color != null ? s.color : i) % colours.length],
          width: s.dash ? 1 : 1.5,
          dash: s.dash ? [6, 4] : undefined,
          points: { show: false },
          value: (u, x) => (x == null ? '–' : (s.scale === 'y2' ? this.fmt2 : this.fmt)(x)),
        }))),
      };
      this.plot.replaceChildren();
      this.u = new uPlot(opts, [xs, ...series.map((s) => s.values)], this.plot);
      this.width = this.plot.clientWidth;
    }
  }

  // ------------------------------------------------------------------ stats of the shown container

  /** Samples reduced to what the charts use, oldest first. */
  const samples = [];
  let lastStatsAt = 0;

  function reduce(s) {
    const r = { t: parseTs(s.timestamp) };
    if (s.has_cpu && s.cpu) {
      const u = s.cpu.usage || {};
      const cfs = s.cpu.cfs || {};
      r.cpu = [u.total || 0, u.user || 0, u.system || 0, cfs.periods || 0, cfs.throttled_periods || 0,
        cfs.throttled_time || 0];
      r.per = u.per_cpu_usage || [];
    }
    if (s.has_memory && s.memory) {
      const m = s.memory;
      r.mem = [m.usage || 0, m.working_set || 0, m.cache || 0, m.rss || 0, m.swap || 0];
    }
    if (s.has_network && s.network && s.network.interfaces) {
      r.net = {};
      for (const i of s.network.interfaces) {
        r.net[i.name] = [i.rx_bytes, i.tx_bytes, i.rx_errors, i.tx_errors, i.rx_dropped, i.tx_dropped];
      }
    }
    if (s.has_diskio && s.diskio && s.diskio.io_service_bytes) {
      let rd = 0;
      let wr = 0;
      for (const d of s.diskio.io_service_bytes) {
        rd += (d.stats && d.stats.Read) || 0;
        wr += (d.stats && d.stats.Write) || 0;
      }
      r.disk = [rd, wr];
    }
    if (s.has_filesystem && s.filesystem) {
      r.fs = {};
      for (const f of s.filesystem) r.fs[f.device] = [f.usage || 0, f.capacity || 0];
    }
    // bpfadvisor's opt-in eBPF kinds; a part is missing when its kind is off.
    if (s.ebpf) {
      const e = s.ebpf;
      r.ebpf = {
        procs: e.processes ? [e.processes.started, e.processes.exited] : null,
        runq: e.runqueue ? [e.runqueue.sum_ns, e.runqueue.count] : null,
        retrans: e.tcp_retransmits != null ? e.tcp_retransmits : null,
        reclaim: e.reclaim_stall_ns != null ? e.reclaim_stall_ns : null,
      };
    }
    return r;
  }

  /** Charts of the eBPF kinds the newest sample carries, added once they appear. */
  const fmtSecPerSec = (v) => (v == null ? '–' : fmtNum(v) + ' s/s');
  function ensureSignalCharts(win) {
    const e = win.length ? win[win.length - 1].ebpf : null;
    const box = document.getElementById('charts');
    if (!e || !box) return;
    const want = [];
    if (e.procs) want.push(['ebpf-processes', 'Processes started and exited', fmtPerSec]);
    if (e.runq) want.push(['ebpf-runqueue', 'Run-queue wait', fmtSecPerSec, { fmt2: (v) => fmtNum(v * 1e3) + ' ms' }]);
    if (e.retrans != null) want.push(['ebpf-retrans', 'TCP retransmits', fmtPerSec]);
    if (e.reclaim != null) want.push(['ebpf-reclaim', 'Memory reclaim stalls', fmtSecPerSec]);
    for (const [id, title, fmt, opts] of want) {
      if (chartSet[id]) continue;
      chartSet[id] = new Chart(id, title, fmt, opts);
      box.append(chartSet[id].el);
    }
  }

  function drawSignalCharts(win, xs) {
    ensureSignalCharts(win);
    const c = chartSet;
    const get = (f) => (s) => (s.ebpf ? f(s.ebpf) : null);
    if (c['ebpf-processes']) {
      c['ebpf-processes'].update(xs, [
        { label: 'started', values: rate(win, get((e) => e.procs && e.procs[0])) },
        { label: 'exited', values: rate(win, get((e) => e.procs && e.procs[1])) },
      ]);
    }
    if (c['ebpf-runqueue']) {
      const waited = rate(win, get((e) => e.runq && e.runq[0]));
      const waits = rate(win, get((e) => e.runq && e.runq[1]));
      c['ebpf-runqueue'].update(xs, [
        { label: 'time waiting', values: waited.map((v) => (v == null ? null : v / 1e9)) },
        { label: 'mean wait', values: waited.map((v, i) => (v == null || !waits[i] ? null : v / waits[i] / 1e9)), scale: 'y2' },
      ]);
    }
    if (c['ebpf-retrans']) {
      c['ebpf-retrans'].update(xs, [{ label: 'segments', values: rate(win, get((e) => e.retrans)) }]);
    }
    if (c['ebpf-reclaim']) {
      c['ebpf-reclaim'].update(xs, [
        { label: 'stalled', values: rate(win, get((e) => e.reclaim)).map((v) => (v == null ? null : v / 1e9)) },
      ]);
    }
  }

  function addSamples(list) {
    let last = samples.length ? samples[samples.length - 1].t : -Infinity;
    for (const s of list || []) {
      const r = reduce(s);
      if (isFinite(r.t) && r.t > last) { samples.push(r); last = r.t; }
    }
    const horizon = last - KEEP_SECONDS;
    let drop = 0;
    while (drop < samples.length && samples[drop].t < horizon) drop++;
    if (drop) samples.splice(0, drop);
  }

  /** The per-second rate of `get` between neighbouring samples (null where unknown or reset). */
  function rate(win, get) {
    const out = new Array(win.length).fill(null);
    for (let i = 1; i < win.length; i++) {
      const a = get(win[i - 1]);
      const b = get(win[i]);
      const dt = win[i].t - win[i - 1].t;
      if (a == null || b == null || dt <= 0 || b < a) continue;
      out[i] = (b - a) / dt;
    }
    return out;
  }

  function rangeKey() {
    const r = params.get('range');
    return RANGES[r] ? r : '5m';
  }
  function windowed() {
    if (!samples.length) return [];
    const from = samples[samples.length - 1].t - RANGES[rangeKey()];
    let i = 0;
    while (i < samples.length - 1 && samples[i].t < from) i++;
    // One sample before the window, so its first rate is known.
    return samples.slice(Math.max(0, i - 1));
  }

  // ------------------------------------------------------------------ the container page

  const content = document.getElementById('content');
  let info = null; // v1 ContainerInfo (spec with quota/period, reference)
  let machine = null; // v2 attributes
  let specs = null; // v2 specs of this subtree, by name
  const chartSet = {};

  function crumbsFor(name) {
    const nav = document.getElementById('crumbs');
    nav.replaceChildren();
    if (RUNTIME) {
      const title = RUNTIME === 'docker' ? 'Docker Containers' : 'Podman Containers';
      nav.append(VIEW === 'runtime' ? h('span', null, title) : h('a', { href: pageHref('/' + RUNTIME + '/') }, title));
      if (VIEW !== 'runtime') {
        const title = document.getElementById('title').textContent;
        nav.append(h('span', null, title.replace(/ \(\/.*\)$/, '')));
      }
      return;
    }
    nav.append(name === '/' ? h('span', null, 'root') : h('a', { href: containerHref('/') }, 'root'));
    const parts = name.split('/').filter(Boolean);
    parts.forEach((p, i) => {
      const path = '/' + parts.slice(0, i + 1).join('/');
      nav.append(i === parts.length - 1 ? h('span', null, p) : h('a', { href: containerHref(path) }, p));
    });
  }

  function buildContainerPage() {
    crumbsFor(NAME);
    if (IS_ROOT) content.append(overviewCards());
    content.append(h('div', { id: 'spec-slot' }));
    const usage = h('section', { class: 'card', id: 'usage' },
      h('div', { class: 'card-head' }, h('h2', null, 'Usage'), rangeButtons()),
      h('div', { class: 'charts', id: 'charts' }));
    content.append(usage);
    content.append(processCard());
    content.append(h('div', { id: 'tree-slot' }));
  }

  function rangeButtons() {
    const wrap = h('div', { class: 'chips range', role: 'group', 'aria-label': 'Chart range' });
    for (const key of Object.keys(RANGES)) {
      wrap.append(h('button', { type: 'button', 'aria-pressed': String(key === rangeKey()), dataset: { range: key },
        onclick: () => {
          setParam('range', key === '5m' ? null : key);
          for (const b of wrap.children) b.setAttribute('aria-pressed', String(b.dataset.range === rangeKey()));
          drawCharts();
        } }, key));
    }
    return wrap;
  }

  function ensureCharts(spec) {
    const box = document.getElementById('charts');
    const want = [];
    if (spec.has_cpu) {
      want.push(['cpu', 'CPU usage (cores)', fmtCores]);
      want.push(['cpu-per-core', 'CPU usage per core (cores)', fmtCores]);
      want.push(['cpu-throttling', 'CPU throttling', fmtPct, { fmt2: (v) => fmtNum(v) + ' s/s' }]);
    }
    if (spec.has_memory) want.push(['memory', 'Memory', fmtBytes]);
    if (spec.has_network) {
      want.push(['network', 'Network throughput', fmtRate]);
      want.push(['network-errors', 'Network errors and drops', fmtPerSec]);
    }
    if (spec.has_diskio) want.push(['disk-io', 'Disk I/O', fmtRate]);
    if (spec.has_filesystem) want.push(['filesystem', 'Filesystem usage', fmtBytes]);
    for (const [id, title, fmt, opts] of want) {
      if (chartSet[id]) continue;
      chartSet[id] = new Chart(id, title, fmt, opts);
      box.append(chartSet[id].el);
    }
    if (!want.length) box.replaceChildren(h('p', { class: 'muted' }, 'This container has no resource statistics.'));
  }

  function drawCharts() {
    const win = windowed();
    const xs = win.map((s) => s.t);
    const spec = (info && info.spec) || {};
    const c = chartSet;
    if (c.cpu) {
      const series = [
        { label: 'total', values: rate(win, (s) => s.cpu && s.cpu[0]).map((v) => (v == null ? null : v / 1e9)) },
        { label: 'user', values: rate(win, (s) => s.cpu && s.cpu[1]).map((v) => (v == null ? null : v / 1e9)) },
        { label: 'system', values: rate(win, (s) => s.cpu && s.cpu[2]).map((v) => (v == null ? null : v / 1e9)) },
      ];
      const quota = spec.cpu && spec.cpu.quota;
      const period = spec.cpu && spec.cpu.period;
      if (quota > 0 && period > 0) series.push({ label: 'limit', values: xs.map(() => quota / period), dash: true, color: 4 });
      c.cpu.update(xs, series);
    }
    if (c['cpu-per-core']) {
      const n = win.reduce((m, s) => Math.max(m, (s.per || []).length), 0);
      const series = [];
      for (let k = 0; k < Math.min(n, 64); k++) {
        series.push({ label: 'cpu' + k, values: rate(win, (s) => s.per && s.per[k]).map((v) => (v == null ? null : v / 1e9)) });
      }
      c['cpu-per-core'].update(xs, series);
    }
    if (c['cpu-throttling']) {
      const periods = rate(win, (s) => s.cpu && s.cpu[3]);
      const throttled = rate(win, (s) => s.cpu && s.cpu[4]);
      const pct = periods.map((p, i) => (p == null || throttled[i] == null ? null : p > 0 ? (100 * throttled[i]) / p : 0));
      const time = rate(win, (s) => s.cpu && s.cpu[5]).map((v) => (v == null ? null : v / 1e9));
      c['cpu-throttling'].update(xs, [
        { label: 'periods throttled', values: pct },
        { label: 'throttled time', values: time, scale: 'y2' },
      ]);
      const quota = spec.cpu && spec.cpu.quota;
      c['cpu-throttling'].extra.replaceChildren(quota > 0 ? '' :
        h('p', { class: 'muted' }, 'No CPU quota is set, so this container is never throttled.'));
    }
    if (c.memory) {
      const pick = (k) => win.map((s) => (s.mem ? s.mem[k] : null));
      const series = [
        { label: 'usage', values: pick(0) },
        { label: 'working set', values: pick(1) },
        { label: 'cache', values: pick(2) },
        { label: 'rss', values: pick(3) },
      ];
      const limit = spec.memory && spec.memory.limit;
      const cap = (machine && machine.memory_capacity) || Infinity;
      if (limit > 0 && limit < UNLIMITED && limit < cap) series.push({ label: 'limit', values: xs.map(() => limit), dash: true, color: 4 });
      c.memory.update(xs, series);
    }
    if (c.network) {
      const ifaces = interfaces(win);
      const series = [];
      for (const name of ifaces) {
        series.push({ label: name + ' rx', values: rate(win, (s) => s.net && s.net[name] && s.net[name][0]) });
        series.push({ label: name + ' tx', values: rate(win, (s) => s.net && s.net[name] && s.net[name][1]) });
      }
      if (series.length) c.network.update(xs, series); else c.network.empty('no network interfaces');
      const errs = [];
      for (const name of ifaces) {
        const sum = (a, b) => (s) => (s.net && s.net[name] ? s.net[name][a] + s.net[name][b] : null);
        errs.push({ label: name + ' errors', values: rate(win, sum(2, 3)) });
        errs.push({ label: name + ' drops', values: rate(win, sum(4, 5)) });
      }
      if (errs.length) c['network-errors'].update(xs, errs); else c['network-errors'].empty('no network interfaces');
    }
    if (c['disk-io']) {
      if (win.some((s) => s.disk)) {
        c['disk-io'].update(xs, [
          { label: 'read', values: rate(win, (s) => s.disk && s.disk[0]) },
          { label: 'write', values: rate(win, (s) => s.disk && s.disk[1]) },
        ]);
      } else {
        c['disk-io'].empty('no block I/O accounted for this cgroup');
      }
    }
    if (c.filesystem) {
      const newest = win.length ? win[win.length - 1].fs || {} : {};
      const devices = Object.keys(newest).filter((d) => newest[d][1] > 0);
      if (devices.length) {
        c.filesystem.update(xs, devices.map((d) => ({ label: d, values: win.map((s) => (s.fs && s.fs[d] ? s.fs[d][0] : null)) })));
      } else {
        c.filesystem.empty('no filesystem usage for this container');
      }
      c.filesystem.extra.replaceChildren(...devices.map((d) => barRow(d,
        fmtBytes(newest[d][0]) + ' of ' + fmtBytes(newest[d][1]), newest[d][0] / newest[d][1])));
    }
    drawSignalCharts(win, xs);
    updateMachineUsage(win);
  }

  /** The interfaces worth a line: the busiest few that moved bytes in the window, else the first. */
  function interfaces(win) {
    if (!win.length) return [];
    const first = win[0].net || {};
    const last = win[win.length - 1].net || {};
    const moved = Object.keys(last).map((n) => [n, first[n] ? last[n][0] + last[n][1] - first[n][0] - first[n][1] : 0]);
    moved.sort((a, b) => b[1] - a[1]);
    const busy = moved.filter((m) => m[1] > 0).slice(0, 4).map((m) => m[0]);
    return busy.length ? busy : moved.slice(0, 1).map((m) => m[0]);
  }

  const statsPoller = new Poller(STATS_MS, async () => {
    // After a pause (hidden tab) take everything the agent still holds, else only the newest few.
    const full = !samples.length || Date.now() - lastStatsAt > 4 * STATS_MS;
    let resp;
    try {
      resp = await getJSON('/v2.0/stats' + encName(NAME) + '?type=name&count=' + (full ? -1 : STATS_COUNT));
    } catch (e) {
      if (e.status === 500 && /unknown container/.test(e.message)) {
        showBanner('This container no longer exists (' + e.message + ').', true);
        statsPoller.stop();
        psPoller.stop();
        infoPoller.stop();
        return;
      }
      throw e;
    }
    lastStatsAt = Date.now();
    addSamples(resp[NAME] || Object.values(resp)[0]);
    drawCharts();
  });

  // ------------------------------------------------------------------ spec card

  /** The container's v1 info without samples: its spec (with quota and period, which v2 specs
   *  leave out). Read at load and every minute (limits change with `docker update`). */
  async function loadInfo() {
    const fresh = await getJSON('/v1.3/containers' + encName(NAME), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"num_stats":0}' });
    const changed = !info || JSON.stringify(fresh.spec) !== JSON.stringify(info.spec) ||
      JSON.stringify(fresh.aliases) !== JSON.stringify(info.aliases);
    info = fresh;
    if (!changed) return;
    renderSpec();
    ensureCharts(info.spec || {});
    drawCharts();
  }
  const infoPoller = new Poller(60000, loadInfo);

  function coresMask(mask, n) {
    const on = new Set();
    for (const part of (mask || '').split(',')) {
      const [a, b] = part.split('-').map((x) => parseInt(x, 10));
      if (isNaN(a)) continue;
      for (let i = a; i <= (isNaN(b) ? a : b); i++) on.add(i);
    }
    const total = Math.max(n || 0, on.size ? Math.max(...on) + 1 : 0);
    const wrap = h('span', { class: 'cores' });
    for (let i = 0; i < total; i++) wrap.append(h('span', { class: on.has(i) ? 'on' : 'off' }, i));
    return wrap;
  }

  function renderSpec() {
    const slot = document.getElementById('spec-slot');
    const spec = info.spec || {};
    const ref = info;
    const rows = [];
    const row = (k, v) => { if (v != null && v !== '') rows.push(h('dt', null, k), h('dd', null, v)); };
    row('Name', h('code', null, ref.name));
    const aliases = (ref.aliases || []).filter((a) => a !== ref.name);
    if (aliases.length) row('Aliases', aliases.join(', '));
    row('Runtime', ref.namespace || 'raw cgroup');
    row('Image', spec.image ? h('code', null, spec.image) : '');
    if (spec.creation_time) {
      const t = parseTs(spec.creation_time);
      row('Created', t > 1 ? fmtDate(t) + ' (' + fmtAgo(t) + ')' : '');
    }
    const cap = (machine && machine.memory_capacity) || 0;
    if (spec.has_cpu && spec.cpu) {
      row('CPU shares', String(spec.cpu.limit || 0));
      row('CPU limit', spec.cpu.quota > 0 && spec.cpu.period > 0
        ? fmtCores(spec.cpu.quota / spec.cpu.period) + ' cores (quota ' + spec.cpu.quota + ' µs per ' + spec.cpu.period + ' µs)'
        : 'unlimited');
      if (spec.cpu.mask) row('Allowed cores', coresMask(spec.cpu.mask, machine && machine.num_cores));
    }
    if (spec.has_memory && spec.memory) {
      const m = spec.memory;
      const limited = m.limit > 0 && m.limit < UNLIMITED && !(cap && m.limit >= cap);
      row('Memory limit', limited ? fmtBytes(m.limit) : 'unlimited');
      row('Memory reservation', m.reservation > 0 && m.reservation < UNLIMITED ? fmtBytes(m.reservation) : 'none');
      if (m.swap_limit) row('Swap limit', m.swap_limit < UNLIMITED ? fmtBytes(m.swap_limit) : 'unlimited');
    }
    const kids = [h('dl', { class: 'kv' }, rows)];
    const table = (title, obj) => {
      const keys = Object.keys(obj || {}).sort();
      if (!keys.length) return null;
      return h('details', null, h('summary', null, title + ' (' + keys.length + ')'),
        h('div', { class: 'scroll' }, h('table', null, h('tbody', null,
          keys.map((k) => h('tr', null, h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, obj[k])))))));
    };
    kids.push(table('Labels', spec.labels), table('Environment', spec.envs));
    slot.replaceChildren(card('spec', 'Container', ...kids));
  }

  // ------------------------------------------------------------------ processes

  const PS_COLUMNS = [
    { key: 'user', label: 'User' },
    { key: 'pid', label: 'PID', num: true },
    { key: 'parent_pid', label: 'PPID', num: true, narrow: true },
    { key: 'start_time', label: 'Started', narrow: true },
    { key: 'percent_cpu', label: 'CPU %', num: true, fmt: (v) => (+v).toFixed(1) },
    { key: 'percent_mem', label: 'Mem %', num: true, narrow: true, fmt: (v) => (+v).toFixed(1) },
    { key: 'rss', label: 'RSS', num: true, fmt: fmtBytes },
    { key: 'virtual_size', label: 'Virtual', num: true, fmt: fmtBytes, narrow: true },
    { key: 'status', label: 'State', narrow: true },
    { key: 'running_time', label: 'CPU time', narrow: true },
    { key: 'fd_count', label: 'FDs', num: true, narrow: true },
    { key: 'cgroup_path', label: 'Cgroup', narrow: true, optional: true,
      cell: (v) => (v ? h('a', { href: containerHref(v) }, v) : '') },
    { key: 'cmd', label: 'Command' },
  ];
  let processes = [];
  let psAll = false;

  function processCard() {
    const c = card('processes', 'Processes');
    c.querySelector('.card-head').append(h('span', { class: 'pill', id: 'ps-count' }, ''));
    c.append(h('div', { class: 'scroll' }, h('table', { id: 'ps-table' })), h('div', { id: 'ps-more' }));
    return c;
  }

  function psSort() {
    const raw = params.get('ps') || '-percent_cpu';
    const desc = raw.startsWith('-');
    const key = desc ? raw.slice(1) : raw;
    return PS_COLUMNS.some((c) => c.key === key) ? { key, desc } : { key: 'percent_cpu', desc: true };
  }

  function renderProcesses() {
    const table = document.getElementById('ps-table');
    if (!table) return;
    const { key, desc } = psSort();
    const col = PS_COLUMNS.find((c) => c.key === key);
    const sorted = processes.slice().sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const cmp = col.num ? (+x || 0) - (+y || 0) : String(x == null ? '' : x).localeCompare(String(y == null ? '' : y));
      return (desc ? -cmp : cmp) || a.pid - b.pid;
    });
    const shown = psAll ? sorted : sorted.slice(0, PS_ROWS);
    // Optional columns only when some process has a value (the API fills `cgroup_path` for the root).
    const cols = PS_COLUMNS.filter((c) => !c.optional || processes.some((p) => p[c.key]));
    const head = h('tr', null, cols.map((c) => h('th', {
      class: (c.num ? 'num' : '') + (c.narrow ? ' hide-narrow' : ''),
      dataset: { key: c.key },
      'aria-sort': c.key === key ? (desc ? 'descending' : 'ascending') : null,
      tabindex: 0,
      onclick: () => {
        const same = c.key === key;
        const nextDesc = same ? !desc : !!c.num;
        setParam('ps', (nextDesc ? '-' : '') + c.key);
        renderProcesses();
      },
    }, c.label)));
    const rows = shown.map((p) => h('tr', { dataset: { pid: p.pid } }, cols.map((c) => h('td', {
      class: (c.num ? 'num' : c.key === 'cmd' ? 'cmd mono' : '') + (c.narrow ? ' hide-narrow' : ''),
    }, c.cell ? c.cell(p[c.key]) : c.fmt ? c.fmt(p[c.key]) : p[c.key]))));
    if (!rows.length) {
      rows.push(h('tr', null, h('td', { colspan: cols.length, class: 'muted' },
        'No process in this cgroup itself' + (specs && Object.keys(specs).length > 1 ? ' (see its subcontainers).' : '.'))));
    }
    table.replaceChildren(h('thead', null, head), h('tbody', null, rows));
    document.getElementById('ps-count').textContent = processes.length + (processes.length === 1 ? ' process' : ' processes');
    const more = document.getElementById('ps-more');
    more.replaceChildren(sorted.length > PS_ROWS
      ? h('button', { type: 'button', onclick: () => { psAll = !psAll; renderProcesses(); } },
        psAll ? 'Show the first ' + PS_ROWS : 'Show all ' + sorted.length)
      : '');
  }

  const psPoller = new Poller(PS_MS, async () => {
    processes = await getJSON('/v2.0/ps' + encName(NAME));
    renderProcesses();
  });

  // ------------------------------------------------------------------ subcontainer tree

  const expanded = new Set();
  let specsAt = 0;
  let specsDirty = true;

  const specPoller = new Poller(SPEC_REFRESH_MS, async () => {
    if (!specsDirty && specs) return;
    specsDirty = false;
    specs = await getJSON('/v2.0/spec' + encName(NAME) + '?type=name&recursive=true');
    specsAt = Date.now();
    if (IS_ROOT) {
      index = { at: specsAt, specs };
      renderTop();
    }
    renderTree();
  });

  function childrenMap(all, top) {
    const kids = new Map();
    const names = Object.keys(all).filter((n) => n !== top && (top === '/' ? true : n.startsWith(top + '/')));
    const known = new Set(names);
    known.add(top);
    for (const n of names) {
      let parent = n.slice(0, n.lastIndexOf('/')) || '/';
      while (!known.has(parent) && parent !== '/' && parent.length > top.length) parent = parent.slice(0, parent.lastIndexOf('/')) || '/';
      if (!known.has(parent)) parent = top;
      if (!kids.has(parent)) kids.set(parent, []);
      kids.get(parent).push(n);
    }
    for (const list of kids.values()) list.sort();
    return kids;
  }

  function matches(name, spec, q) {
    if (!q) return true;
    if (name.toLowerCase().includes(q)) return true;
    if (!spec) return false;
    if ((spec.aliases || []).some((a) => a.toLowerCase().includes(q))) return true;
    if (spec.image && spec.image.toLowerCase().includes(q)) return true;
    return Object.entries(spec.labels || {}).some(([k, v]) => (k + '=' + v).toLowerCase().includes(q));
  }

  function renderTree() {
    const slot = document.getElementById('tree-slot');
    if (!slot || !specs) return;
    const kids = childrenMap(specs, NAME);
    const total = Object.keys(specs).filter((n) => n !== NAME).length;
    if (!total) { slot.replaceChildren(); return; }
    const q = (params.get('filter') || '').trim().toLowerCase();
    // With a filter: the matches and their ancestors, all open.
    let keep = null;
    if (q) {
      keep = new Set();
      for (const n of Object.keys(specs)) {
        if (n === NAME || !matches(n, specs[n], q)) continue;
        for (let p = n; p.length > NAME.length && !keep.has(p); p = p.slice(0, p.lastIndexOf('/')) || '/') keep.add(p);
      }
    }
    const counts = new Map();
    const countOf = (n) => {
      if (counts.has(n)) return counts.get(n);
      let c = 0;
      for (const k of kids.get(n) || []) c += 1 + countOf(k);
      counts.set(n, c);
      return c;
    };
    let budget = TREE_MAX_NODES;
    const build = (parent) => {
      const ul = h('ul', { class: 'tree' });
      for (const n of kids.get(parent) || []) {
        if (keep && !keep.has(n)) continue;
        if (budget-- <= 0) { ul.append(h('li', { class: 'muted' }, '… more; narrow it down with the filter')); break; }
        const below = countOf(n);
        const open = keep ? true : expanded.has(n);
        const li = h('li', { dataset: { name: n } },
          below ? h('button', { type: 'button', class: 'twisty', 'aria-expanded': String(open),
            'aria-label': (open ? 'Collapse ' : 'Expand ') + n,
            onclick: () => { if (expanded.has(n)) expanded.delete(n); else expanded.add(n); renderTree(); } }, open ? '▼' : '▶')
            : h('span', { class: 'leaf' }),
          h('a', { href: containerHref(n), title: n }, labelOf(n, specs[n])),
          aliasOf(n, specs[n]) ? h('span', { class: 'count mono' }, n.slice(n.lastIndexOf('/') + 1, n.lastIndexOf('/') + 13)) : null,
          below ? h('span', { class: 'count' }, below + ' below') : null);
        if (below && open) li.append(build(n));
        ul.append(li);
      }
      return ul;
    };
    const filter = h('input', { type: 'text', id: 'tree-filter', placeholder: 'Filter by name, alias, image or label',
      value: params.get('filter') || '', 'aria-label': 'Filter subcontainers' });
    filter.addEventListener('input', () => {
      setParam('filter', filter.value.trim());
      clearTimeout(renderTree.t);
      renderTree.t = setTimeout(() => { renderTree(); const f = document.getElementById('tree-filter'); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }, 150);
    });
    const c = card('subcontainers', 'Subcontainers');
    c.querySelector('.card-head').append(h('span', { class: 'pill' }, total + ' below'));
    c.append(filter, h('div', { class: 'tree-wrap' }, build(NAME)));
    slot.replaceChildren(c);
  }

  // ------------------------------------------------------------------ landing page: machine, top-N

  function overviewCards() {
    return h('div', { class: 'grid2', id: 'overview' },
      card('machine', 'Machine', h('div', { id: 'machine-body' }, h('p', { class: 'muted' }, 'loading…'))),
      card('filesystems', 'Filesystems', h('div', { id: 'fs-body' }, h('p', { class: 'muted' }, 'loading…'))),
      card('top-cpu', 'Busiest containers: CPU', h('div', { id: 'top-cpu-body' }, h('p', { class: 'muted' }, 'loading…'))),
      card('top-memory', 'Busiest containers: memory', h('div', { id: 'top-memory-body' }, h('p', { class: 'muted' }, 'loading…'))));
  }

  function renderMachine() {
    const el = document.getElementById('machine-body');
    if (!el || !machine) return;
    const m = machine;
    const rows = [];
    const row = (k, v) => { if (v != null && v !== '') rows.push(h('dt', null, k), h('dd', null, v)); };
    row('Cores', String(m.num_cores) + (m.cpu_frequency_khz ? ' × ' + (m.cpu_frequency_khz / 1e6).toFixed(2) + ' GHz' : ''));
    row('Memory', fmtBytes(m.memory_capacity));
    row('Kernel', m.kernel_version);
    row('OS', m.container_os_version);
    row('Docker', m.docker_version);
    row('Agent', m.cadvisor_version);
    el.replaceChildren(h('dl', { class: 'kv' }, rows), h('div', { id: 'machine-usage' }));
    updateMachineUsage(windowed());
  }

  function updateMachineUsage(win) {
    const el = document.getElementById('machine-usage');
    if (!el || !machine || !win.length) return;
    const cpu = lastOf(rate(win, (s) => s.cpu && s.cpu[0]));
    const newest = win[win.length - 1];
    const ws = newest.mem ? newest.mem[1] : null;
    el.replaceChildren(
      h('h3', null, 'In use now'),
      barRow('CPU', cpu == null ? '–' : fmtCores(cpu / 1e9) + ' of ' + machine.num_cores + ' cores', cpu / 1e9 / machine.num_cores),
      barRow('Memory (working set)', fmtBytes(ws) + ' of ' + fmtBytes(machine.memory_capacity), ws / machine.memory_capacity));
  }

  const storagePoller = new Poller(STORAGE_MS, async () => {
    const list = await getJSON('/v2.0/storage');
    const el = document.getElementById('fs-body');
    const real = list.filter((f) => f.capacity > 0).sort((a, b) => b.capacity - a.capacity);
    el.replaceChildren(...(real.length ? real.map((f) => barRow(
      h('span', null, h('code', null, f.mountpoint || f.device), f.labels && f.labels.length ? h('span', { class: 'muted' }, ' ' + f.labels.join(', ')) : null),
      fmtBytes(f.usage) + ' of ' + fmtBytes(f.capacity), f.usage / f.capacity)) : [h('p', { class: 'muted' }, 'no filesystems')]));
  });

  /** The containers without subcontainers (the ones that run things), with their summary. */
  function leaves(summary) {
    const names = Object.keys(summary).sort();
    const out = [];
    for (let i = 0; i < names.length; i++) {
      const n = names[i];
      const next = names[i + 1];
      if (n === '/' || (next && next.startsWith(n + '/'))) continue;
      out.push([n, summary[n].latest_usage || {}]);
    }
    return out;
  }

  function topList(elId, rows, value, fmt, whole) {
    const el = document.getElementById(elId);
    if (!el) return;
    const top = rows.filter((r) => value(r[1]) > 0).sort((a, b) => value(b[1]) - value(a[1])).slice(0, 5);
    el.replaceChildren(...(top.length ? top.map(([n, u]) => barRow(
      h('span', { title: n }, labelOf(n, index && index.specs[n])), fmt(value(u)), value(u) / whole, containerHref(n)))
      : [h('p', { class: 'muted' }, 'no usage measured yet')]));
  }

  const summaryPoller = new Poller(SUMMARY_MS, async () => {
    let summary;
    try {
      summary = await getJSON('/v2.0/summary/?type=name&recursive=true');
    } catch (e) {
      for (const id of ['top-cpu-body', 'top-memory-body']) {
        const el = document.getElementById(id);
        if (el) el.replaceChildren(h('p', { class: 'muted' }, 'not available: ' + e.message));
      }
      return;
    }
    lastSummary = summary;
    renderTop();
  });
  let lastSummary = null;

  function renderTop() {
    if (!lastSummary) return;
    const rows = leaves(lastSummary);
    const cores = (machine && machine.num_cores) || 1;
    const mem = (machine && machine.memory_capacity) || 1;
    topList('top-cpu-body', rows, (u) => u.cpu || 0, (v) => fmtCores(v / 1000) + ' cores', cores * 1000);
    topList('top-memory-body', rows, (u) => u.memory || 0, fmtBytes, mem);
  }

  // ------------------------------------------------------------------ runtime list (/docker/)

  let runtimeSummary = {};

  function buildRuntimePage() {
    crumbsFor('/');
    const c = card('runtime-containers', document.getElementById('title').textContent);
    c.querySelector('.card-head').append(h('span', { class: 'pill', id: 'runtime-count' }, ''));
    const filter = h('input', { type: 'text', id: 'runtime-filter', placeholder: 'Filter by name, id, image or label',
      value: params.get('filter') || '', 'aria-label': 'Filter containers' });
    filter.addEventListener('input', () => { setParam('filter', filter.value.trim()); renderRuntime(); });
    c.append(h('div', { id: 'runtime-info', class: 'muted' }), filter,
      h('div', { class: 'scroll' }, h('table', { id: 'runtime-table' })));
    content.append(c);
  }

  function idOf(name, spec) {
    const hex = ((spec && spec.aliases) || []).find((a) => /^[0-9a-f]{12,64}$/.test(a));
    return hex || name.slice(name.lastIndexOf('/') + 1);
  }

  function renderRuntime() {
    const table = document.getElementById('runtime-table');
    if (!table || !specs) return;
    const q = (params.get('filter') || '').trim().toLowerCase();
    const names = Object.keys(specs).filter((n) => matches(n, specs[n], q))
      .sort((a, b) => labelOf(a, specs[a]).localeCompare(labelOf(b, specs[b])));
    const rows = names.map((n) => {
      const s = specs[n];
      const id = idOf(n, s);
      const u = (runtimeSummary[n] && runtimeSummary[n].latest_usage) || {};
      const created = parseTs(s.creation_time);
      return h('tr', { dataset: { name: n } },
        h('td', null, h('a', { href: pageHref('/' + RUNTIME + '/' + encodeURIComponent(id)) }, labelOf(n, s))),
        h('td', { class: 'mono hide-narrow' }, id.slice(0, 12)),
        h('td', { class: 'mono' }, s.image || ''),
        h('td', { class: 'hide-narrow' }, created > 1 ? fmtAgo(created) : ''),
        h('td', { class: 'num' }, u.cpu != null ? fmtCores(u.cpu / 1000) : '–'),
        h('td', { class: 'num' }, u.memory != null ? fmtBytes(u.memory) : '–'));
    });
    table.replaceChildren(
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', { class: 'hide-narrow' }, 'ID'), h('th', null, 'Image'),
        h('th', { class: 'hide-narrow' }, 'Created'), h('th', { class: 'num' }, 'CPU (cores)'), h('th', { class: 'num' }, 'Memory'))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 6, class: 'muted' },
        Object.keys(specs).length ? 'no container matches' : 'no ' + RUNTIME + ' containers'))));
    document.getElementById('runtime-count').textContent = Object.keys(specs).length + ' containers';
  }

  // Fetched at load, after creations or deletions (at most every 5 s) and every 30 s.
  let runtimeDirty = true;
  let runtimeAt = 0;
  const runtimeSpecPoller = new Poller(5000, async () => {
    if (!runtimeDirty && Date.now() - runtimeAt < SPEC_REFRESH_MS) return;
    runtimeDirty = false;
    runtimeAt = Date.now();
    try {
      specs = await getJSON('/v2.0/spec/?type=' + RUNTIME + '&recursive=true');
    } catch (e) {
      specs = {};
    }
    renderRuntime();
  });
  const runtimeSummaryPoller = new Poller(SUMMARY_MS, async () => {
    try {
      runtimeSummary = await getJSON('/v2.0/summary/?type=' + RUNTIME + '&recursive=true');
    } catch (e) {
      runtimeSummary = {};
    }
    renderRuntime();
  });

  // ------------------------------------------------------------------ search

  let index = null; // { at, specs } of every container
  const searchInput = document.getElementById('search');
  const searchList = document.getElementById('search-results');
  let searchSel = 0;

  async function loadIndex() {
    if (index && Date.now() - index.at < INDEX_MAX_AGE_MS) return index;
    const all = await getJSON('/v2.0/spec/?type=name&recursive=true');
    index = { at: Date.now(), specs: all };
    return index;
  }

  async function runSearch() {
    const q = searchInput.value.trim().toLowerCase();
    if (!q) { searchList.hidden = true; return; }
    let idx;
    try { idx = await loadIndex(); } catch (e) {
      searchList.replaceChildren(h('li', { class: 'muted' }, e.message));
      searchList.hidden = false;
      return;
    }
    if (q !== searchInput.value.trim().toLowerCase()) return;
    const hits = Object.keys(idx.specs).filter((n) => matches(n, idx.specs[n], q))
      .sort((a, b) => {
        const la = labelOf(a, idx.specs[a]).toLowerCase();
        const lb = labelOf(b, idx.specs[b]).toLowerCase();
        return (lb.startsWith(q) - la.startsWith(q)) || a.length - b.length || a.localeCompare(b);
      });
    searchSel = 0;
    const shown = hits.slice(0, 15).map((n, i) => h('li', null, h('a', { href: containerHref(n), class: i === 0 ? 'sel' : '' },
      labelOf(n, idx.specs[n]), h('small', { class: 'mono' }, n))));
    if (hits.length > 15) shown.push(h('li', { class: 'muted' }, h('small', null, '  ' + (hits.length - 15) + ' more')));
    if (!hits.length) shown.push(h('li', { class: 'muted' }, h('small', null, '  no container matches')));
    searchList.replaceChildren(...shown);
    searchList.hidden = false;
  }

  searchInput.addEventListener('focus', () => { loadIndex().catch(() => {}); });
  searchInput.addEventListener('input', runSearch);
  searchInput.addEventListener('keydown', (e) => {
    const links = [...searchList.querySelectorAll('a')];
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!links.length) return;
      e.preventDefault();
      searchSel = (searchSel + (e.key === 'ArrowDown' ? 1 : links.length - 1)) % links.length;
      links.forEach((a, i) => a.classList.toggle('sel', i === searchSel));
    } else if (e.key === 'Enter') {
      if (links[searchSel]) location.href = links[searchSel].href;
    } else if (e.key === 'Escape') {
      searchInput.value = '';
      searchList.hidden = true;
      searchInput.blur();
    }
  });
  document.addEventListener('click', (e) => { if (!e.target.closest('.search')) searchList.hidden = true; });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      e.preventDefault();
      searchInput.focus();
    }
  });

  // ------------------------------------------------------------------ events

  const EVENT_KINDS = [
    { key: 'created', label: 'created', types: ['containerCreation'] },
    { key: 'deleted', label: 'deleted', types: ['containerDeletion'] },
    { key: 'oom', label: 'OOM', types: ['oom', 'oomKill'] },
  ];
  const kindOf = (type) => (EVENT_KINDS.find((k) => k.types.includes(type)) || EVENT_KINDS[0]).key;
  const shownKinds = new Set((params.get('events') || 'created,deleted,oom').split(',').filter(Boolean));
  const eventList = document.getElementById('event-list');
  const eventState = document.getElementById('events-state');
  const EVENT_SCOPE = VIEW === 'container' ? NAME : '/';
  const seenEvents = new Set();
  let newestEvent = '';
  let eventsCtrl = null;
  let eventsRetry = null;

  function renderKindChips() {
    const box = document.getElementById('event-kinds');
    box.replaceChildren(...EVENT_KINDS.map((k) => h('button', { type: 'button', 'aria-pressed': String(shownKinds.has(k.key)),
      dataset: { kind: k.key }, onclick: () => {
        if (shownKinds.has(k.key)) shownKinds.delete(k.key); else shownKinds.add(k.key);
        const all = EVENT_KINDS.every((x) => shownKinds.has(x.key));
        setParam('events', all ? null : [...shownKinds].join(',') || 'none');
        renderKindChips();
        for (const li of eventList.children) li.hidden = !shownKinds.has(li.dataset.kind);
      } }, k.label)));
  }

  function eventLabel(name) {
    const spec = (index && index.specs[name]) || (specs && specs[name]);
    const alias = aliasOf(name, spec);
    return alias ? alias + ' (' + name + ')' : name;
  }

  function addEvent(ev, fresh) {
    const key = ev.event_type + '|' + ev.container_name + '|' + ev.timestamp;
    if (seenEvents.has(key)) return;
    seenEvents.add(key);
    if (ev.timestamp > newestEvent) newestEvent = ev.timestamp;
    const t = parseTs(ev.timestamp);
    const data = ev.event_data || {};
    // An `oom` and its `oomKill` come as a pair; show the kill, which names the victim.
    if (ev.event_type === 'oom' && seenEvents.has('oomKill|' + ev.container_name + '|' + ev.timestamp)) return;
    if (ev.event_type === 'oomKill') {
      for (const li of eventList.querySelectorAll('li[data-type="oom"]')) {
        if (li.dataset.container === ev.container_name && li.dataset.ts === ev.timestamp) li.remove();
      }
    }
    let kindText = 'created';
    let detail = null;
    if (ev.event_type === 'containerDeletion') {
      kindText = 'deleted';
      const d = data.container_deletion;
      if (d && d.exit_code != null) detail = 'exit code ' + d.exit_code;
    } else if (ev.event_type === 'oomKill') {
      kindText = 'OOM kill';
      const o = data.oom || {};
      detail = 'killed ' + (o.process_name || 'a process') + (o.pid ? ' (pid ' + o.pid + ')' : '');
    } else if (ev.event_type === 'oom') {
      kindText = 'OOM';
      detail = 'out of memory';
    }
    const kind = kindOf(ev.event_type);
    const cls = kind === 'oom' ? 'oom' : kind;
    const li = h('li', { class: cls + (fresh ? ' fresh' : ''), hidden: !shownKinds.has(kind),
      dataset: { type: ev.event_type, kind, container: ev.container_name, ts: ev.timestamp, t: String(t) } },
      h('span', { class: 'when', title: fmtDate(t) }, fmtClock(t)),
      h('span', { class: 'kind' }, kindText),
      h('a', { href: containerHref(ev.container_name) }, eventLabel(ev.container_name)),
      detail ? h('span', { class: 'detail' }, detail) : null);
    // Newest first.
    let before = null;
    for (const other of eventList.children) {
      if (parseFloat(other.dataset.t) <= t) { before = other; break; }
    }
    eventList.insertBefore(li, before);
    while (eventList.children.length > MAX_EVENTS) eventList.lastElementChild.remove();
    if (fresh) eventTouches(ev);
  }

  function eventTouches(ev) {
    const n = ev.container_name;
    const inside = NAME === '/' || n === NAME || n.startsWith(NAME + '/');
    if (VIEW === 'container' && inside && (ev.event_type === 'containerCreation' || ev.event_type === 'containerDeletion')) {
      specsDirty = true;
      if (n === NAME && ev.event_type === 'containerDeletion') showBanner('This container was deleted at ' + fmtDate(parseTs(ev.timestamp)) + '.', true);
    }
    if (VIEW === 'runtime' && (ev.event_type === 'containerCreation' || ev.event_type === 'containerDeletion')) runtimeDirty = true;
  }

  async function loadEventHistory() {
    const q = new URLSearchParams({ subcontainers: 'true', all_events: 'true', max_events: String(MAX_EVENTS) });
    if (newestEvent) q.set('start_time', newestEvent);
    const list = await getJSON('/v1.3/events' + encName(EVENT_SCOPE) + '?' + q);
    for (const ev of list) addEvent(ev, false);
  }

  function setEventState(text, cls) {
    eventState.textContent = text;
    eventState.className = 'pill' + (cls ? ' ' + cls : '');
  }

  /** The live stream, with the history since the newest event shown fetched once it is open (so
   *  nothing falls between the two). Reconnects after 5 s when it breaks. */
  async function connectEvents() {
    clearTimeout(eventsRetry);
    if (document.hidden || eventsCtrl) return;
    const ctrl = new AbortController();
    eventsCtrl = ctrl;
    setEventState('connecting');
    try {
      const r = await fetch(API + '/v1.3/events' + encName(EVENT_SCOPE) + '?stream=true&subcontainers=true&all_events=true',
        { signal: ctrl.signal, cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok || !r.body) throw new Error('events: ' + r.status);
      setEventState('live', 'live');
      loadEventHistory().catch((e) => console.warn(e));
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) {
            try { addEvent(JSON.parse(line), true); } catch (e) { console.warn('bad event line', line); }
          }
        }
      }
      throw new Error('event stream ended');
    } catch (e) {
      if (eventsCtrl !== ctrl) return;
      eventsCtrl = null;
      if (ctrl.signal.aborted) return;
      setEventState('reconnecting', 'bad');
      eventsRetry = setTimeout(connectEvents, 5000);
    }
  }

  function pauseEvents() {
    clearTimeout(eventsRetry);
    if (eventsCtrl) { const c = eventsCtrl; eventsCtrl = null; c.abort(); }
    setEventState('paused');
  }

  // ------------------------------------------------------------------ start

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      for (const p of pollers) { clearTimeout(p.timer); p.timer = null; }
      pauseEvents();
    } else {
      for (const p of pollers) if (p.on) p.run();
      connectEvents();
    }
  });

  renderKindChips();
  connectEvents();

  async function loadMachine() {
    machine = await getJSON('/v2.0/attributes');
    renderMachine();
    if (info) { renderSpec(); drawCharts(); }
  }

  if (VIEW === 'runtime') {
    buildRuntimePage();
    getJSON('/v2.0/attributes').then((a) => {
      machine = a;
      const el = document.getElementById('runtime-info');
      if (el && RUNTIME === 'docker') el.textContent = a.docker_version ? 'Docker ' + a.docker_version : 'Docker daemon not connected';
    }).catch(() => {});
    runtimeSpecPoller.start();
    runtimeSummaryPoller.start();
  } else {
    buildContainerPage();
    loadMachine().catch((e) => console.warn(e));
    loadInfo().then(() => {
      statsPoller.start();
      setTimeout(() => infoPoller.start(), 60000);
    }).catch((e) => showBanner('Cannot read this container: ' + e.message, true));
    // Listing processes walks the host's procfs: only while the list is on screen.
    psPoller.watch(document.getElementById('processes'));
    psPoller.start();
    specPoller.start();
    if (IS_ROOT) {
      storagePoller.start();
      summaryPoller.start();
    }
  }
})();
