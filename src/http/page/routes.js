// @ts-check
// Status page script: the filter (kept in the URL hash), the VNI buttons, the routes table.
// src/http/page.ts joins the page's scripts into one inline script, in one function scope.

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
