// @ts-check
// Status page script: the header (status, readiness) and the sessions table.
// src/http/page.ts joins the page's scripts into one inline script, in one function scope.

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

/** @type {number | undefined} */
let sessionsTimer;
input('s-q').addEventListener('input', () => {
  clearTimeout(sessionsTimer);
  sessionsTimer = setTimeout(() => {
    state.sessionsQuery = input('s-q').value.trim();
    void refreshSessions();
  }, 150);
});
