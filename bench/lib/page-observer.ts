/**
 * An open status page and a Prometheus scraper, emulated over HTTP from the driver process so
 * that only the server's side is measured (bench/lib/http-cost.ts).
 *
 * The page (src/http/page/main.js, routes.js, sessions.js) as it behaves with no filter and the
 * tab visible: it loads `/`, then `api/status`, `api/history`, then all of `api/status`,
 * `api/sessions?limit=200&q=`, `api/vnis?limit=200` and `api/routes?offset=0&limit=100`; opens
 * the event stream `api/events` and loads all four again when it is open; on every `changes`
 * event it re-queries the routes and the VNIs; on every second `sample` event the sessions and
 * the status. Each of those four refreshes is coalesced as the page does it (one request in
 * flight; a refresh asked for meanwhile runs once after it). Requests go over keep-alive
 * connections, at most 6 (a browser's limit per host). The scraper GETs `/metrics` on the
 * `--metrics` listener every `scrapeMs` over a keep-alive connection of its own.
 *
 * It also checks what it gets (correctness, asserted by the smoke run): every response 200 and
 * well formed, the metrics carrying the expected families, events arriving, the sessions seen.
 */

import { Agent, request, type IncomingMessage } from 'node:http';

/** Metric families every scrape must carry. */
const METRIC_FAMILIES = [
  'tsbond_build_info',
  'tsbond_sessions',
  'tsbond_route_updates_received_total',
  'tsbond_route_updates_sent_total',
  'tsbond_routes',
];

export interface ObserverStats {
  /** HTTP requests answered (page and scrapes), the event stream excluded. */
  readonly requests: number;
  readonly scrapes: number;
  readonly bytes: number;
  readonly sampleEvents: number;
  readonly changeEvents: number;
  /** Largest `total` of api/sessions seen. */
  readonly maxSessions: number;
  /** Largest number of routes api/routes matched. */
  readonly maxRoutesMatched: number;
  /** Largest tsbond_sessions{state="ESTABLISHED"} scraped. */
  readonly maxEstablished: number;
  readonly errors: readonly string[];
}

interface Response {
  readonly status: number;
  readonly body: string;
}

function get(agent: Agent, host: string, port: number, path: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, agent, headers: { host: `[${host}]:${String(port)}` } },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sum of the samples of a metric family in Prometheus text (all label sets). */
export function metricSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith('{') || rest.startsWith(' '))) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** One sample of a family with a label value, e.g. tsbond_sessions state="ESTABLISHED". */
export function metricWith(text: string, name: string, label: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(label)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** Runs `fn` now, or once more after the run in flight (the page's `coalesced`). */
function coalesced(fn: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    fn()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}

export class PageObserver {
  private requests = 0;
  private scrapes = 0;
  private bytes = 0;
  private sampleEvents = 0;
  private changeEvents = 0;
  private maxSessions = 0;
  private maxRoutesMatched = 0;
  private maxEstablished = 0;
  private readonly errors: string[] = [];
  private stopped = false;
  private scraper: NodeJS.Timeout | undefined;
  private events: IncomingMessage | undefined;
  private readonly pageAgent = new Agent({ keepAlive: true, maxSockets: 6 });
  private readonly scrapeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly refreshStatus = coalesced(() => this.json('/api/status'));
  private readonly refreshSessions = coalesced(() => this.json('/api/sessions?limit=200&q='));
  private readonly refreshVnis = coalesced(() => this.json('/api/vnis?limit=200'));
  private readonly refreshRoutes = coalesced(() => this.json('/api/routes?offset=0&limit=100'));

  constructor(
    private readonly host: string,
    private readonly httpPort: number,
    private readonly metricsPort: number,
    private readonly scrapeMs: number,
  ) {}

  stats(): ObserverStats {
    return {
      requests: this.requests,
      scrapes: this.scrapes,
      bytes: this.bytes,
      sampleEvents: this.sampleEvents,
      changeEvents: this.changeEvents,
      maxSessions: this.maxSessions,
      maxRoutesMatched: this.maxRoutesMatched,
      maxEstablished: this.maxEstablished,
      errors: this.errors.slice(0, 10),
    };
  }

  private error(msg: string): void {
    if (this.stopped) return;
    if (this.errors.length < 100) this.errors.push(msg);
  }

  private async fetch(port: number, path: string, agent: Agent): Promise<string | undefined> {
    try {
      const r = await get(agent, this.host, port, path);
      this.requests++;
      this.bytes += r.body.length;
      if (r.status !== 200) {
        this.error(`${path}: HTTP ${String(r.status)}: ${r.body.slice(0, 200)}`);
        return undefined;
      }
      return r.body;
    } catch (e) {
      this.error(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  /** A JSON request of the page; checks the shape of what the page reads. */
  private async json(path: string): Promise<void> {
    if (this.stopped) return;
    const body = await this.fetch(this.httpPort, path, this.pageAgent);
    if (body === undefined) return;
    let x: unknown;
    try {
      x = JSON.parse(body);
    } catch {
      this.error(`${path}: not JSON`);
      return;
    }
    const o = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
    const kind = path.split('?')[0];
    if (kind === '/api/sessions' || kind === '/api/vnis' || kind === '/api/routes') {
      if (!Array.isArray(o.rows)) this.error(`${path}: no rows`);
    }
    if (kind === '/api/sessions' && typeof o.total === 'number') {
      this.maxSessions = Math.max(this.maxSessions, o.total);
    }
    if (kind === '/api/routes' && typeof o.matched === 'number') {
      this.maxRoutesMatched = Math.max(this.maxRoutesMatched, o.matched);
    }
    if (kind === '/api/status' && o.role !== 'server') this.error(`${path}: role is not server`);
    if (kind === '/api/history' && !Array.isArray(o.samples)) this.error(`${path}: no samples`);
  }

  /** One scrape of /metrics on the metrics listener; returns its text. */
  async scrape(): Promise<string | undefined> {
    const text = await this.fetch(this.metricsPort, '/metrics', this.scrapeAgent);
    if (text === undefined) return undefined;
    this.scrapes++;
    for (const f of METRIC_FAMILIES) {
      if (!text.includes(`\n${f}`) && !text.startsWith(f)) this.error(`/metrics: no ${f}`);
    }
    const est = metricWith(text, 'tsbond_sessions', 'state="ESTABLISHED"');
    this.maxEstablished = Math.max(this.maxEstablished, est ?? 0);
    return text;
  }

  private refreshAll(): void {
    this.refreshStatus();
    this.refreshSessions();
    this.refreshVnis();
    this.refreshRoutes();
  }

  /** Opens the page (resolves once the event stream is open) and starts the scraper. */
  async start(): Promise<void> {
    const page = await this.fetch(this.httpPort, '/', this.pageAgent);
    if (page !== undefined && !page.includes('<script')) this.error('/: no inline script');
    await this.json('/api/status');
    await this.json('/api/history');
    this.refreshAll();
    await this.openEvents();
    this.refreshAll();
    this.scraper = setInterval(() => {
      void this.scrape();
    }, this.scrapeMs);
  }

  private openEvents(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.httpPort,
          path: '/api/events',
          headers: { host: `[${this.host}]:${String(this.httpPort)}`, accept: 'text/event-stream' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`/api/events: HTTP ${String(res.statusCode)}`));
            res.resume();
            return;
          }
          this.events = res;
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            let i;
            while ((i = buf.indexOf('\n\n')) !== -1) {
              this.onEvent(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
          });
          res.on('error', () => undefined);
          res.on('close', () => {
            if (!this.stopped) this.error('/api/events: stream closed by the server');
          });
          resolve();
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  private onEvent(block: string): void {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (data === '') return; // `retry:` and comments
    try {
      JSON.parse(data);
    } catch {
      this.error(`/api/events: ${event} event data is not JSON`);
      return;
    }
    if (event === 'sample') {
      if (++this.sampleEvents % 2 === 0) {
        this.refreshSessions();
        this.refreshStatus();
      }
    } else if (event === 'changes') {
      this.changeEvents++;
      // No VNI filter: every summary concerns the routes shown.
      this.refreshRoutes();
      this.refreshVnis();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.scraper !== undefined) clearInterval(this.scraper);
    this.events?.destroy();
    this.pageAgent.destroy();
    this.scrapeAgent.destroy();
  }
}
