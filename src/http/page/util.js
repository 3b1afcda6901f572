// @ts-check
// Status page script: helpers and the page state.
// src/http/page.ts joins the page's scripts into one inline script, in one function scope.

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
