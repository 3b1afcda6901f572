// @ts-check
// Status page script: live updates over server-sent events, and the start. The page never
// downloads the route table: it asks for one filtered page of routes (/api/routes) and asks again
// when the event stream says that something it shows has changed, at most once a second; nothing
// is done per update.
// src/http/page.ts joins the page's scripts into one inline script, in one function scope.

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
