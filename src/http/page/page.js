// @ts-check
// The status page's script (inlined into the page by src/http/page.ts). It never downloads the
// route table: it asks the server for one filtered page of routes (/api/routes) and re-asks when
// the server's event stream (/api/events) says that something it shows has changed, at most once
// a second. No per-update work happens here.
'use strict';

(() => {
  const PAGE_SIZE = 100;
  const nf = new Intl.NumberFormat('en-US');

  /** @param {string} id */
  const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  /** @param {string} id */
  const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

  /**
   * @param {string} tag
   * @param {string | number | null | undefined} [text]
   * @param {string} [cls]
   */
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  /** @param {number | undefined | null} n */
  const num = (n) => (n === undefined || n === null ? '–' : nf.format(n));

  /** @param {number | undefined} n */
  function bytes(n) {
    if (n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${i === 0 ? String(v) : v.toFixed(1)} ${units[i] ?? ''}`;
  }

  /** @param {number} seconds */
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${String(d)}d ${String(h)}h`;
    if (h > 0) return `${String(h)}h ${String(m)}m`;
    if (m > 0) return `${String(m)}m ${String(s % 60)}s`;
    return `${String(s)}s`;
  }

  /** @param {string | undefined} iso */
  const since = (iso) => (iso ? duration((Date.now() - Date.parse(iso)) / 1000) : '–');

  /** @param {string} path */
  async function getJson(path) {
    const res = await fetch(path, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body && body.error ? body.error : `HTTP ${String(res.status)}`);
    return body;
  }

  /**
   * Runs `fn` now, or once more after the run in flight: requests never pile up.
   * @param {() => Promise<void>} fn
   */
  function coalesced(fn) {
    let running = false;
    let again = false;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await fn();
      } catch (e) {
        console.warn(e);
      } finally {
        running = false;
        if (again) {
          again = false;
          void run();
        }
      }
    };
    return run;
  }

  const state = {
    role: 'server',
    /** @type {{ vni: string, prefix: string, nexthop: string }} */
    filter: { vni: '', prefix: '', nexthop: '' },
    offset: 0,
    sessionsQuery: '',
    /** @type {{ t: number, updatesPerSecond: number, routes: number }[]} */
    samples: [],
    startedAt: '',
  };

  // ---- filter <-> URL hash ----

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    state.filter = {
      vni: p.get('vni') ?? '',
      prefix: p.get('prefix') ?? '',
      nexthop: p.get('nexthop') ?? '',
    };
    state.offset = Number(p.get('offset') ?? '0') || 0;
    input('f-vni').value = state.filter.vni;
    input('f-prefix').value = state.filter.prefix;
    input('f-nexthop').value = state.filter.nexthop;
  }

  function writeHash() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
    if (state.offset > 0) p.set('offset', String(state.offset));
    const h = p.toString();
    history.replaceState(null, '', h ? `#${h}` : location.pathname);
  }

  // ---- status and sessions ----

  const refreshStatus = coalesced(async () => {
    const s = await getJson('api/status');
    state.role = s.role;
    state.startedAt = s.startedAt;
    document.title = `tsbond ${String(s.role)} – ${String(s.describe)}`;
    $('describe').textContent = s.describe;
    $('version').textContent = `v${String(s.version)}`;
    $('footer-version').textContent = s.version;
    $('uptime').textContent = `up ${since(s.startedAt)}`;
    const ready = $('ready');
    ready.textContent = s.ready.ready ? 'ready' : 'not ready';
    ready.className = `badge ${s.ready.ready ? 'ok' : 'bad'}`;
    ready.title = s.ready.checks
      .map(
        (/** @type {{ok: boolean, name: string, detail: string}} */ c) =>
          `${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`,
      )
      .join('\n');
    $('c-routes').textContent = num(s.routes);
    $('c-vnis').textContent = num(s.vnis);
    const est = s.sessions.byState.ESTABLISHED ?? 0;
    $('c-sessions').textContent = `${num(est)} / ${num(s.sessions.total)}`;
    $('c-sessions-label').textContent =
      s.role === 'server' ? 'peers established' : 'servers established';
    $('sessions-title').textContent = s.role === 'server' ? 'Peers' : 'Servers';
    $('updated').textContent = new Date().toLocaleTimeString();
  });

  /** @type {[string, string, string?][]} */
  const SERVER_SESSION_COLS = [
    ['address', 'Address'],
    ['implementation', 'Implementation'],
    ['features', 'Features'],
    ['state', 'State'],
    ['keepalive', 'Keepalive', 'num'],
    ['uptime', 'Up', 'num'],
    ['routes', 'Routes owned', 'num'],
    ['subscriptions', 'Subscriptions'],
    ['bytesIn', 'Bytes in', 'num'],
    ['bytesOut', 'Bytes out', 'num'],
    ['messagesIn', 'Msgs in', 'num'],
    ['messagesOut', 'Msgs out', 'num'],
    ['backlog', 'Backlog', 'num'],
  ];
  /** @type {[string, string, string?][]} */
  const CLIENT_SESSION_COLS = [
    ['address', 'Server'],
    ['implementation', 'Implementation'],
    ['features', 'Features'],
    ['state', 'State'],
    ['keepalive', 'Keepalive', 'num'],
    ['uptime', 'Up', 'num'],
    ['routes', 'Routes', 'num'],
    ['synced', 'Synced VNIs'],
    ['stale', 'Stale', 'num'],
    ['bytesIn', 'Bytes in', 'num'],
    ['bytesOut', 'Bytes out', 'num'],
    ['connects', 'Connects', 'num'],
    ['lastError', 'Last error'],
  ];

  /** @param {Record<string, any>} s @param {string} key */
  function sessionCell(s, key) {
    switch (key) {
      case 'address':
        return el('td', s.address, 'mono');
      case 'implementation':
        return el('td', s.implementation ?? (s.features ? 'MetalBond' : '–'));
      case 'features':
        return el('td', s.features ? s.features.join(', ') || 'none' : '–');
      case 'state':
        return el('td', s.state, `state-${String(s.state)}`);
      case 'keepalive':
        return el('td', s.keepalive !== undefined ? `${String(s.keepalive)} s` : '–', 'num');
      case 'uptime':
        return el('td', since(s.establishedSince), 'num');
      case 'routes':
        return el('td', num(s.routes), 'num');
      case 'subscriptions':
        return el('td', s.subscriptions ? s.subscriptions.join(', ') || '–' : '–', 'mono');
      case 'synced':
        return el('td', s.syncedVnis ? s.syncedVnis.join(', ') || 'none' : '–', 'mono');
      case 'stale':
        return el('td', num(s.staleRoutes), 'num');
      case 'bytesIn':
        return el('td', bytes(s.bytesIn), 'num');
      case 'bytesOut':
        return el('td', bytes(s.bytesOut), 'num');
      case 'messagesIn':
        return el('td', num(s.messagesIn), 'num');
      case 'messagesOut':
        return el('td', num(s.messagesOut), 'num');
      case 'backlog': {
        const parts = [];
        if (s.backlogRoutes !== undefined) parts.push(`${num(s.backlogRoutes)} routes`);
        if (s.queuedBytes !== undefined) parts.push(bytes(s.queuedBytes));
        return el('td', parts.join(' / ') || '–', 'num');
      }
      case 'connects':
        return el('td', num(s.connects), 'num');
      case 'lastError':
        return el('td', s.lastError ?? '', 'mono');
      default:
        return el('td', '');
    }
  }

  /** @param {HTMLTableElement} table @param {[string, string, string?][]} cols */
  function header(table, cols) {
    const tr = el('tr');
    for (const [, title, cls] of cols) tr.append(el('th', title, cls));
    /** @type {HTMLElement} */ (table.tHead).replaceChildren(tr);
  }

  const refreshSessions = coalesced(async () => {
    const q = encodeURIComponent(state.sessionsQuery);
    const r = await getJson(`api/sessions?limit=200&q=${q}`);
    const cols = state.role === 'server' ? SERVER_SESSION_COLS : CLIENT_SESSION_COLS;
    const table = /** @type {HTMLTableElement} */ ($('sessions'));
    header(table, cols);
    const body = /** @type {HTMLElement} */ (table.tBodies[0]);
    if (r.rows.length === 0) {
      const td = el('td', state.role === 'server' ? 'no peers' : 'no servers', 'empty');
      td.setAttribute('colspan', String(cols.length));
      const tr = el('tr');
      tr.append(td);
      body.replaceChildren(tr);
    } else {
      body.replaceChildren(
        ...r.rows.map((/** @type {Record<string, any>} */ s) => {
          const tr = el('tr', undefined, 'session');
          tr.dataset.address = s.address;
          for (const [key] of cols) tr.append(sessionCell(s, key));
          return tr;
        }),
      );
    }
    $('sessions-info').textContent =
      r.total > r.rows.length
        ? `showing ${num(r.rows.length)} of ${num(r.total)}`
        : `${num(r.total)} in all`;
  });

  // ---- VNIs ----

  const refreshVnis = coalesced(async () => {
    const r = await getJson('api/vnis?limit=200');
    const box = $('vnis');
    box.replaceChildren(
      ...r.rows.map((/** @type {{vni: number, routes: number | null}} */ v) => {
        const b = el(
          'button',
          v.routes === null ? `VNI ${String(v.vni)}` : `VNI ${String(v.vni)} · ${num(v.routes)}`,
        );
        /** @type {HTMLButtonElement} */ (b).type = 'button';
        if (state.filter.vni === String(v.vni)) b.className = 'on';
        b.addEventListener('click', () => {
          const same = state.filter.vni === String(v.vni);
          input('f-vni').value = same ? '' : String(v.vni);
          applyFilter();
        });
        return b;
      }),
    );
    if (r.total > r.rows.length)
      box.append(el('span', `… ${num(r.total - r.rows.length)} more VNIs`, 'info'));
  });

  // ---- routes ----

  /** @type {[string, string, string?][]} */
  const SERVER_ROUTE_COLS = [
    ['prefix', 'Prefix'],
    ['nextHop', 'Next hop'],
    ['type', 'Type'],
    ['nat', 'NAT ports'],
    ['targetVni', 'Target VNI', 'num'],
    ['owners', 'Announced by'],
  ];
  /** @type {[string, string, string?][]} */
  const CLIENT_ROUTE_COLS = [
    ['prefix', 'Prefix'],
    ['nextHop', 'Next hop'],
    ['type', 'Type'],
    ['nat', 'NAT ports'],
    ['targetVni', 'Target VNI', 'num'],
    ['servers', 'Servers'],
    ['stale', 'Stale for'],
  ];

  /** @param {Record<string, any>} r @param {string} key */
  function routeCell(r, key) {
    switch (key) {
      case 'prefix':
        return el('td', r.prefix, 'mono prefix');
      case 'nextHop':
        return el('td', r.nextHop, 'mono');
      case 'type':
        return el('td', r.type);
      case 'nat':
        return el(
          'td',
          r.type === 'NAT' ? `${String(r.natPortRangeFrom)}–${String(r.natPortRangeTo)}` : '',
        );
      case 'targetVni':
        return el('td', r.targetVni ? r.targetVni : '', 'num');
      case 'owners':
        return el('td', (r.owners ?? []).join(', '), 'mono');
      case 'servers':
        return el('td', (r.servers ?? []).join(', '), 'mono');
      case 'stale':
        return el('td', (r.staleFor ?? []).join(', '), 'mono stale');
      default:
        return el('td', '');
    }
  }

  const refreshRoutes = coalesced(async () => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
    p.set('offset', String(state.offset));
    p.set('limit', String(PAGE_SIZE));
    const info = $('routes-info');
    let r;
    try {
      r = await getJson(`api/routes?${p.toString()}`);
    } catch (e) {
      info.textContent = e instanceof Error ? e.message : String(e);
      info.dataset.error = '1';
      return;
    }
    delete info.dataset.error;
    const cols = state.role === 'server' ? SERVER_ROUTE_COLS : CLIENT_ROUTE_COLS;
    const table = /** @type {HTMLTableElement} */ ($('routes'));
    header(table, cols);
    /** @type {HTMLElement[]} */
    const rows = [];
    let vni = -1;
    let prefix = '';
    for (const route of r.rows) {
      if (route.vni !== vni) {
        vni = route.vni;
        prefix = '';
        const tr = el('tr', undefined, 'vni');
        const th = el('th', `VNI ${String(vni)}`);
        th.setAttribute('colspan', String(cols.length));
        tr.append(th);
        rows.push(tr);
      }
      const tr = el('tr', undefined, route.prefix === prefix ? 'route cont' : 'route');
      prefix = route.prefix;
      tr.dataset.vni = String(route.vni);
      tr.dataset.prefix = route.prefix;
      tr.dataset.nexthop = route.nextHop;
      for (const [key] of cols) tr.append(routeCell(route, key));
      rows.push(tr);
    }
    if (rows.length === 0) {
      const td = el('td', 'no routes match', 'empty');
      td.setAttribute('colspan', String(cols.length));
      const tr = el('tr');
      tr.append(td);
      rows.push(tr);
    }
    /** @type {HTMLElement} */ (table.tBodies[0]).replaceChildren(...rows);
    const total = `${num(r.matched)}${r.complete ? '' : '+'}`;
    info.textContent = `${total} matching · ${String(r.tookMs)} ms`;
    info.dataset.matched = String(r.matched);
    const first = r.rows.length === 0 ? 0 : r.offset + 1;
    $('page-info').textContent = `${num(first)}–${num(r.offset + r.rows.length)} of ${total}`;
    /** @type {HTMLButtonElement} */ ($('prev')).disabled = r.offset === 0;
    /** @type {HTMLButtonElement} */ ($('next')).disabled =
      r.complete && r.offset + r.rows.length >= r.matched;
  });

  function applyFilter() {
    state.filter = {
      vni: input('f-vni').value.trim(),
      prefix: input('f-prefix').value.trim(),
      nexthop: input('f-nexthop').value.trim(),
    };
    state.offset = 0;
    writeHash();
    void refreshRoutes();
    void refreshVnis();
  }

  /** @type {number | undefined} */
  let filterTimer;
  for (const id of ['f-vni', 'f-prefix', 'f-nexthop']) {
    input(id).addEventListener('input', () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(applyFilter, 100);
    });
  }
  $('filter').addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(filterTimer);
    applyFilter();
  });
  $('f-clear').addEventListener('click', () => {
    input('f-vni').value = '';
    input('f-prefix').value = '';
    input('f-nexthop').value = '';
    applyFilter();
  });
  $('prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    writeHash();
    void refreshRoutes();
  });
  $('next').addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    writeHash();
    void refreshRoutes();
  });
  /** @type {number | undefined} */
  let sessionsTimer;
  input('s-q').addEventListener('input', () => {
    clearTimeout(sessionsTimer);
    sessionsTimer = setTimeout(() => {
      state.sessionsQuery = input('s-q').value.trim();
      void refreshSessions();
    }, 150);
  });

  // ---- plot ----

  const SVG = 'http://www.w3.org/2000/svg';
  const PLOT_W = 600;
  const PLOT_H = 110;

  /** @param {string} tag @param {Record<string, string>} attrs */
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  function drawPlot() {
    const plot = $('plot');
    const s = state.samples;
    const title = plot.querySelector('title');
    plot.replaceChildren(...(title ? [title] : []));
    for (const y of [PLOT_H * 0.25, PLOT_H * 0.5, PLOT_H * 0.75]) {
      plot.append(
        svg('line', { x1: '0', x2: String(PLOT_W), y1: String(y), y2: String(y), class: 'grid' }),
      );
    }
    if (s.length < 2) return;
    const t0 = (s[0] ?? { t: 0 }).t;
    const t1 = (s[s.length - 1] ?? { t: 1 }).t;
    const span = Math.max(1, t1 - t0);
    const maxUps = Math.max(1, ...s.map((x) => x.updatesPerSecond));
    const maxRoutes = Math.max(1, ...s.map((x) => x.routes));
    /** @param {(x: {t: number, updatesPerSecond: number, routes: number}) => number} f @param {number} max */
    const points = (f, max) =>
      s
        .map(
          (x) =>
            `${(((x.t - t0) / span) * PLOT_W).toFixed(1)},${(PLOT_H - 2 - (f(x) / max) * (PLOT_H - 6)).toFixed(1)}`,
        )
        .join(' ');
    plot.append(svg('polyline', { points: points((x) => x.routes, maxRoutes), class: 'routes' }));
    plot.append(
      svg('polyline', { points: points((x) => x.updatesPerSecond, maxUps), class: 'ups' }),
    );
    $('plot-ups-max').textContent = `max ${num(maxUps)}/s`;
    $('plot-routes-max').textContent = `max ${num(maxRoutes)}`;
    $('plot-span').textContent = `· last ${duration(span / 1000)}`;
  }

  // ---- live updates ----

  function connect() {
    const live = $('live');
    const es = new EventSource('api/events');
    es.addEventListener('open', () => {
      live.textContent = 'live';
      live.className = 'badge ok';
      // Whatever changed while disconnected.
      void refreshAll();
    });
    es.addEventListener('error', () => {
      live.textContent = 'reconnecting';
      live.className = 'badge off';
    });
    let ticks = 0;
    es.addEventListener('sample', (ev) => {
      const sample = JSON.parse(/** @type {MessageEvent} */ (ev).data);
      state.samples.push(sample);
      if (state.samples.length > 600) state.samples.shift();
      $('c-ups').textContent = num(sample.updatesPerSecond);
      $('c-routes').textContent = num(sample.routes);
      $('uptime').textContent = `up ${since(state.startedAt)}`;
      drawPlot();
      // Counters of the sessions move all the time: refreshed every other second, when visible.
      if (!document.hidden && ++ticks % 2 === 0) {
        void refreshSessions();
        void refreshStatus();
      }
    });
    es.addEventListener('changes', (ev) => {
      const c = JSON.parse(/** @type {MessageEvent} */ (ev).data);
      const vni = state.filter.vni;
      const mine = c.vnis === null || vni === '' || Object.hasOwn(c.vnis, vni);
      if (mine) void refreshRoutes();
      void refreshVnis();
    });
  }

  async function refreshAll() {
    await Promise.all([refreshStatus(), refreshSessions(), refreshVnis(), refreshRoutes()]);
  }

  async function start() {
    readHash();
    await refreshStatus();
    const h = await getJson('api/history');
    state.samples = h.samples;
    drawPlot();
    await refreshAll();
    connect();
  }
  window.addEventListener('hashchange', () => {
    readHash();
    void refreshRoutes();
  });
  void start();
})();
