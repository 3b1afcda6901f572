/**
 * The HTTP endpoints of a tsbond server or client (node:http, no framework).
 *
 * mode 'full' (`--http`): the live status page `/` and its JSON API under `/api/`, Go MetalBond's
 * `/routes.json` and `/routes.yaml`, plus `/metrics`, `/healthz`, `/readyz`; requests whose Host
 * header is not an IP literal, localhost or an allowed name are refused (host-check.ts).
 * mode 'metrics' (`--metrics`): only `/metrics`, `/healthz` and `/readyz`, so they can be exposed on
 * a pod address without exposing the routes.
 *
 * Long work (exports, queries) runs in slices (slicer.ts) and never holds the event loop for more
 * than a few milliseconds at a time.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { MetalBondError, IoError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net-address.js';
import { VERSION } from '../version.js';
import { writeGoRoutes, type GoRoutesFormat } from './go-routes.js';
import { hostAllowed } from './host-check.js';
import { LiveFeed } from './live.js';
import { createMetrics, type Metrics } from './metrics.js';
import { loadPage, type Page } from './page.js';
import { DEFAULT_COUNT_BUDGET, parseRouteQuery, queryRoutes, RowCache } from './route-query.js';
import { AbortedError, ChunkWriter, DEFAULT_SLICE_MS, Slicer } from './slicer.js';
import type { SessionStatus, Source } from './sources.js';

export type HttpMode = 'full' | 'metrics';

export interface StatusServerOptions {
  /** `HOST:PORT`; a missing host (`:4712`) means loopback. Port 0 picks a free port. */
  readonly listen: string;
  /** Default 'full'. */
  readonly mode?: HttpMode;
  /** Host names accepted in the Host header besides IP literals and localhost ('full' only). */
  readonly allowedHosts?: readonly string[];
  readonly logger?: Logger;
  /** `metalbondVersion` in the route exports; default `tsbond <version>`. */
  readonly version?: string;
  /** Longest synchronous slice of an export or query, ms (default 4). */
  readonly sliceMs?: number;
  /** Route exports running at once; more get 503 (default 2). */
  readonly maxExports?: number;
  /** Interval of the live feed and the plot's history (default 1000 ms). */
  readonly liveIntervalMs?: number;
}

/** Parses `--http`/`--metrics` values: `[::1]:4712`, `0.0.0.0:4712`, `:4712` (loopback). */
export function parseListen(text: string): HostPort {
  const t = text.trim();
  if (/^:?[0-9]{1,5}$/.test(t)) return parseHostPort(`[::1]:${t.replace(/^:/, '')}`);
  return parseHostPort(t);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

function sessionJson(s: SessionStatus): Record<string, unknown> {
  return {
    ...s,
    ...(s.connectedSince !== undefined && { connectedSince: s.connectedSince.toISOString() }),
    ...(s.establishedSince !== undefined && {
      establishedSince: s.establishedSince.toISOString(),
    }),
  };
}

export class StatusServer {
  private readonly mode: HttpMode;
  private readonly log: Logger;
  private readonly live: LiveFeed | undefined;
  private readonly rowCache: RowCache;
  private warming = false;
  private exportsRunning = 0;
  private readonly slicers = new Set<Slicer>();
  private closed = false;
  private _address: HostPort = { host: '', port: 0 };

  private constructor(
    private readonly http: Server,
    private readonly source: Source,
    private readonly metrics: Metrics,
    private readonly page: Page | undefined,
    private readonly options: StatusServerOptions,
  ) {
    this.mode = options.mode ?? 'full';
    this.log = (options.logger ?? silentLogger()).child({ http: this.mode });
    this.rowCache = new RowCache(source);
    this.live =
      this.mode === 'full'
        ? new LiveFeed(source, { intervalMs: options.liveIntervalMs ?? 1000 })
        : undefined;
  }

  /** Starts listening; rejects with IoError when the address cannot be bound. */
  static async start(source: Source, options: StatusServerOptions): Promise<StatusServer> {
    const hp = parseListen(options.listen);
    const mode = options.mode ?? 'full';
    const metrics = await createMetrics(source, VERSION);
    const page = mode === 'full' ? loadPage() : undefined;
    const http = createServer({ keepAliveTimeout: 5000 });
    const server = new StatusServer(http, source, metrics, page, options);
    http.on('request', (req, res) => {
      server.handle(req, res);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          reject(
            new IoError(
              `cannot listen on ${formatHostPort(hp)} (HTTP): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
              { cause: err },
            ),
          );
        };
        http.once('error', onError);
        http.listen({ host: hp.host, port: hp.port }, () => {
          http.off('error', onError);
          resolve();
        });
      });
    } catch (e) {
      server.stopFeeds();
      throw e;
    }
    const a = http.address();
    server._address = typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : hp;
    http.on('error', (err) => {
      server.log.error({ err }, 'HTTP listener error');
    });
    server.log.info({ listen: formatHostPort(server._address) }, 'HTTP listening');
    return server;
  }

  get address(): HostPort {
    return this._address;
  }

  /** `http://[::1]:4712/`. */
  get url(): string {
    return `http://${formatHostPort(this._address)}/`;
  }

  /** Stops listening, ends event streams and running exports, closes idle connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopFeeds();
    for (const s of this.slicers) s.aborted = true;
    const done = new Promise<void>((resolve) => {
      this.http.close(() => {
        resolve();
      });
    });
    this.http.closeIdleConnections();
    setTimeout(() => {
      this.http.closeAllConnections();
    }, 1000).unref();
    await done;
  }

  private stopFeeds(): void {
    this.live?.close();
    this.metrics.close();
  }

  // ---- requests ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (this.mode === 'full' && !hostAllowed(req.headers.host, this.options.allowedHosts ?? [])) {
      this.log.warn({ host: req.headers.host, path }, 'HTTP request refused: Host not allowed');
      this.send(
        res,
        403,
        TEXT_TYPE,
        `Host '${req.headers.host ?? ''}' is not allowed: use an IP address or localhost, or start with --http-allow-host NAME\n`,
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.send(res, 405, TEXT_TYPE, 'method not allowed\n');
      return;
    }
    this.route(req, res, path, url.searchParams).catch((err: unknown) => {
      if (err instanceof AbortedError) {
        res.destroy();
        return;
      }
      this.log.warn({ err, path }, 'HTTP request failed');
      if (!res.headersSent) {
        const bad = err instanceof MetalBondError && err.code === 'PARSE';
        this.send(
          res,
          bad ? 400 : 500,
          JSON_TYPE,
          JSON.stringify({ error: err instanceof Error ? err.message : String(err) }),
        );
      } else {
        res.destroy();
      }
    });
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    params: URLSearchParams,
  ): Promise<void> {
    switch (path) {
      case '/healthz':
        this.send(res, 200, TEXT_TYPE, 'ok\n', req.method === 'HEAD');
        return;
      case '/readyz': {
        const r = this.source.ready();
        const body =
          `${r.ready ? 'ready' : 'not ready'}\n` +
          r.checks.map((c) => `[${c.ok ? '+' : '-'}] ${c.name}: ${c.detail}\n`).join('');
        this.send(res, r.ready ? 200 : 503, TEXT_TYPE, body, req.method === 'HEAD');
        return;
      }
      case '/metrics':
        this.send(res, 200, this.metrics.contentType, await this.metrics.text());
        return;
    }
    if (this.mode !== 'full' || this.page === undefined || this.live === undefined) {
      this.send(
        res,
        404,
        TEXT_TYPE,
        'not found: this listener serves /metrics, /healthz and /readyz\n',
      );
      return;
    }
    switch (path) {
      case '/':
      case '/index.html':
        res.setHeader('Content-Security-Policy', this.page.csp);
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Referrer-Policy', 'no-referrer');
        this.send(res, 200, 'text/html; charset=utf-8', this.page.html);
        return;
      case '/routes.json':
        await this.exportRoutes(res, 'json');
        return;
      case '/routes.yaml':
        await this.exportRoutes(res, 'yaml');
        return;
      case '/api/status':
        this.json(res, this.status());
        return;
      case '/api/sessions':
        this.json(res, this.sessions(params));
        return;
      case '/api/vnis':
        this.json(res, this.vnis(params));
        return;
      case '/api/routes': {
        const q = parseRouteQuery(params);
        const slicer = this.slicer();
        try {
          const started = performance.now();
          const r = await queryRoutes(this.source, q, slicer, DEFAULT_COUNT_BUDGET, this.rowCache);
          this.json(res, { ...r, tookMs: Math.round(performance.now() - started) });
        } finally {
          this.slicers.delete(slicer);
        }
        // The unfiltered table is what the page shows first; a filter usually follows.
        if (q.prefix === undefined && q.nexthop === undefined) this.warmRows(q.vni);
        return;
      }
      case '/api/history':
        this.json(res, { samples: this.live.samples() });
        return;
      case '/api/events':
        if (!this.live.attach(res)) this.send(res, 503, TEXT_TYPE, 'too many event streams\n');
        return;
      default:
        this.send(res, 404, TEXT_TYPE, 'not found\n');
    }
  }

  /** Fills the row cache in the background, one warm-up at a time. */
  private warmRows(vni: number | undefined): void {
    if (this.warming) return;
    this.warming = true;
    const slicer = this.slicer();
    const vnis = vni !== undefined ? [vni] : this.source.vnis();
    void this.rowCache
      .warm(vnis, slicer)
      .catch((err: unknown) => {
        if (!(err instanceof AbortedError)) this.log.warn({ err }, 'route cache warm-up failed');
      })
      .finally(() => {
        this.slicers.delete(slicer);
        this.warming = false;
      });
  }

  private slicer(): Slicer {
    const s = new Slicer(this.options.sliceMs ?? DEFAULT_SLICE_MS);
    this.slicers.add(s);
    return s;
  }

  private async exportRoutes(res: ServerResponse, format: GoRoutesFormat): Promise<void> {
    if (this.exportsRunning >= (this.options.maxExports ?? 2)) {
      res.setHeader('Retry-After', '5');
      this.send(res, 503, TEXT_TYPE, 'route exports busy, retry later\n');
      return;
    }
    this.exportsRunning++;
    const slicer = this.slicer();
    try {
      res.writeHead(200, {
        'Content-Type': format === 'json' ? 'application/json' : 'text/yaml',
        'Cache-Control': 'no-store',
      });
      const started = performance.now();
      const w = new ChunkWriter(res, slicer);
      const routes = await writeGoRoutes(this.source, w, slicer, {
        format,
        version: this.options.version ?? `tsbond ${VERSION}`,
        now: new Date(),
      });
      res.end();
      this.log.debug(
        {
          format,
          routes,
          bytes: w.bytes,
          ms: Math.round(performance.now() - started),
          slices: slicer.slices,
          maxSliceMs: Math.round(slicer.maxSliceMs * 10) / 10,
        },
        'routes exported',
      );
    } finally {
      this.exportsRunning--;
      this.slicers.delete(slicer);
    }
  }

  private status(): Record<string, unknown> {
    const s = this.source;
    const byState: Record<string, number> = {};
    const sessions = s.sessions();
    for (const x of sessions) byState[x.state] = (byState[x.state] ?? 0) + 1;
    return {
      role: s.role,
      version: VERSION,
      describe: s.describe(),
      startedAt: s.startedAt.toISOString(),
      now: new Date().toISOString(),
      routes: s.routeCount(),
      vnis: s.vnis().length,
      sessions: { total: sessions.length, byState },
      ready: s.ready(),
      perVniChanges: s.changes().perVni !== undefined,
      vniCounts: s.vniRouteCount !== undefined,
    };
  }

  private sessions(params: URLSearchParams): Record<string, unknown> {
    const q = (params.get('q') ?? '').trim().toLowerCase();
    const offset = Math.max(0, Number(params.get('offset') ?? '0') || 0);
    const limit = Math.min(1000, Math.max(1, Number(params.get('limit') ?? '200') || 200));
    let rows = this.source.sessions();
    if (q !== '') rows = rows.filter((s) => s.address.toLowerCase().includes(q));
    return {
      total: rows.length,
      offset,
      rows: rows.slice(offset, offset + limit).map(sessionJson),
    };
  }

  private vnis(params: URLSearchParams): Record<string, unknown> {
    const offset = Math.max(0, Number(params.get('offset') ?? '0') || 0);
    const limit = Math.min(5000, Math.max(1, Number(params.get('limit') ?? '500') || 500));
    const all = this.source.vnis();
    const count = this.source.vniRouteCount?.bind(this.source);
    return {
      total: all.length,
      offset,
      rows: all
        .slice(offset, offset + limit)
        .map((vni) => ({ vni, routes: count === undefined ? null : count(vni) })),
    };
  }

  private json(res: ServerResponse, body: unknown): void {
    res.setHeader('Cache-Control', 'no-store');
    this.send(res, 200, JSON_TYPE, JSON.stringify(body));
  }

  private send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headOnly = false,
  ): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(headOnly ? undefined : body);
  }
}

/** Starts the HTTP endpoints for a source (see StatusServer). */
export function startStatusServer(
  source: Source,
  options: StatusServerOptions,
): Promise<StatusServer> {
  return StatusServer.start(source, options);
}
