// @ts-check
// Status page script: the plot of updates per second and route count (inline SVG).
// src/http/page.ts joins the page's scripts into one inline script, in one function scope.

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
  plot.append(svg('polyline', { points: points((x) => x.updatesPerSecond, maxUps), class: 'ups' }));
  $('plot-ups-max').textContent = `max ${num(maxUps)}/s`;
  $('plot-routes-max').textContent = `max ${num(maxRoutes)}`;
  $('plot-span').textContent = `· last ${duration(span / 1000)}`;
}
