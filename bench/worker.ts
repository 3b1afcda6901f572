/**
 * Load-generator worker process (forked by bench/run.ts, one or several per run). It holds raw
 * client connections to the server under test, publishes pre-built frames and counts what it
 * receives; the driver talks to it over IPC (bench/lib/protocol.ts). It dies with its parent.
 */

import { readFileSync } from 'node:fs';

import { FanoutFrames, TableFrames, probeFrame } from './lib/frames.js';
import {
  emptyGroup,
  isRequest,
  type Command,
  type ConnCounts,
  type ConnDetail,
  type GroupAcc,
  type StormOutcome,
  type Reply,
  type WaitSpec,
  type WorkerEvent,
  type WorkerStats,
} from './lib/protocol.js';
import { Publisher, Publishing } from './lib/publishing.js';
import { RawConn, nowMs } from './lib/raw-conn.js';

const conns = new Map<string, RawConn>();
const lostReasons: string[] = [];

function send(m: Reply | WorkerEvent): void {
  // The callback form: a send racing the driver's disconnect fails quietly instead of throwing.
  if (process.connected) process.send?.(m, undefined, {}, () => undefined);
}

function conn(id: string): RawConn {
  const c = conns.get(id);
  if (c === undefined) throw new Error(`no connection '${id}'`);
  return c;
}

const publishing = new Publishing();

/** PEM files read once per worker (TLS connections). */
const pemCache = new Map<string, Buffer>();
function pem(file: string): Buffer {
  let b = pemCache.get(file);
  if (b === undefined) {
    b = readFileSync(file);
    pemCache.set(file, b);
  }
  return b;
}

// ---- stats ----

const groupOf = new Map<string, string>();

function stats(): WorkerStats {
  const total = emptyGroup();
  const groups: Record<string, GroupAcc> = {};
  const sentBy = new Map<RawConn, Publisher>();
  for (const p of publishing.publishers) sentBy.set(p.c, p);
  for (const c of conns.values()) {
    const name = groupOf.get(c.id) ?? 'all';
    const g = (groups[name] ??= emptyGroup());
    for (const x of [total, g]) {
      const k = c.counter;
      x.conns++;
      x.adds += k.adds;
      x.removes += k.removes;
      x.minPerConn =
        x.conns === 1 ? k.adds + k.removes : Math.min(x.minPerConn, k.adds + k.removes);
      x.maxPerConn = Math.max(x.maxPerConn, k.adds + k.removes);
      x.lastUpdateAt = Math.max(x.lastUpdateAt, c.lastUpdateAt);
      if (c.lost !== undefined) x.lost++;
      x.synced += k.synced;
      x.refused += k.refused;
      if (k.adds !== k.removes) x.unbalanced++;
      const p = sentBy.get(c);
      if (p !== undefined) {
        x.ownSentAdds += p.sentAdds;
        x.ownSentRemoves += p.sentRemoves;
      }
      const f =
        k.hellos === 0
          ? 'no HELLO'
          : k.helloFeatures === undefined
            ? 'none'
            : String(k.helloFeatures);
      x.serverFeatures[f] = (x.serverFeatures[f] ?? 0) + 1;
      if (c.view !== undefined) {
        x.views++;
        x.viewSize += c.view.size;
        x.viewAddPresent += c.view.addPresent;
        x.viewRemoveAbsent += c.view.removeAbsent;
        if (x.viewSamples.length < 5) x.viewSamples.push(...c.view.report().samples.slice(0, 2));
      }
    }
  }
  let sentAdds = 0;
  let sentRemoves = 0;
  for (const p of publishing.publishers) {
    sentAdds += p.sentAdds;
    sentRemoves += p.sentRemoves;
  }
  return { ...total, sentAdds, sentRemoves, groups, lostReasons: lostReasons.slice(0, 20) };
}

function counts(ids: readonly string[]): Record<string, ConnCounts> {
  const out: Record<string, ConnCounts> = {};
  for (const id of ids) {
    const k = conn(id).counter;
    out[id] = { adds: k.adds, removes: k.removes };
  }
  return out;
}

function details(ids: readonly string[]): Record<string, ConnDetail> {
  const out: Record<string, ConnDetail> = {};
  for (const id of ids) {
    const c = conn(id);
    const k = c.counter;
    out[id] = {
      adds: k.adds,
      removes: k.removes,
      synced: k.synced,
      refused: k.refused,
      lastSyncedVni: k.lastSyncedVni,
      serverFeatures: k.helloFeatures,
      lastUpdateAt: c.lastUpdateAt,
      subscribedAt: c.subscribedAt,
      addSum: k.addSum?.value(),
      removeSum: k.removeSum?.value(),
      view: c.view?.report(),
      lost: c.lost,
    };
  }
  return out;
}

/** Subscribes every listed conn at once; per conn, when it had `adds` ADDs or why not. */
async function storm(
  cmd: Extract<Command, { op: 'storm' }>,
): Promise<Record<string, StormOutcome>> {
  const list = cmd.ids.map(conn);
  for (const c of list) c.subscribe(cmd.vni);
  const outcomes = await Promise.all(
    list.map(async (c): Promise<[string, StormOutcome]> => {
      try {
        const at = await c.waitFor(
          () => c.counter.adds >= cmd.adds,
          cmd.timeoutMs,
          `${String(cmd.adds)} ADDs`,
          cmd.stallMs,
        );
        return [c.id, { completedAt: at }];
      } catch (e) {
        return [c.id, { error: e instanceof Error ? e.message : String(e) }];
      }
    }),
  );
  return Object.fromEntries(outcomes);
}

// ---- commands ----

/** Resolves with the time the conn's counters first reached the spec. */
async function waitCounts(w: WaitSpec): Promise<number> {
  const c = conn(w.id);
  return c.waitFor(
    () => c.counter.adds >= w.adds && c.counter.removes >= w.removes,
    w.timeoutMs,
    `${String(w.adds)} ADDs and ${String(w.removes)} REMOVEs`,
    w.stallMs,
  );
}

async function run(cmd: Command): Promise<Omit<Reply, 'seq' | 'ok'>> {
  switch (cmd.op) {
    case 'connect': {
      const opened = await Promise.all(
        cmd.conns.map(async (spec) => {
          const c = await RawConn.open(spec.id, {
            host: cmd.target.host,
            port: cmd.target.port,
            keepalive: cmd.keepalive,
            keepaliveEveryMs: cmd.keepaliveEveryMs,
            timeoutMs: cmd.timeoutMs,
            features: spec.features,
            sums: spec.sums,
            view: spec.view,
            tls:
              cmd.target.tls === undefined
                ? undefined
                : {
                    ca: pem(cmd.target.tls.ca),
                    cert: spec.tls === undefined ? undefined : pem(spec.tls.cert),
                    key: spec.tls === undefined ? undefined : pem(spec.tls.key),
                  },
          });
          groupOf.set(spec.id, spec.group ?? 'all');
          c.setLostHandler((x) => {
            lostReasons.push(`${x.id}: ${x.lost ?? ''}`);
            send({ event: 'lost', id: x.id, reason: x.lost ?? '' });
            publishing.checkStopped();
          });
          conns.set(spec.id, c);
          if (spec.subscribe !== undefined) c.subscribe(spec.subscribe);
          return c;
        }),
      );
      // A round trip after SUBSCRIBE: the server has at least read it.
      await Promise.all(opened.map((c) => c.roundTrip(cmd.timeoutMs)));
      return { at: nowMs() };
    }
    case 'fanoutPrepare': {
      publishing.publishers = cmd.clients.map(
        (client) =>
          new Publisher(
            conn(`c${String(client)}`),
            new FanoutFrames(client, cmd.vni, cmd.batch, cmd.cycle),
            client / cmd.of,
            cmd.limit,
            publishing,
          ),
      );
      return {};
    }
    case 'fanoutStart':
      publishing.start(cmd.ratePerClient);
      return { at: nowMs() };
    case 'fanoutStop':
      await publishing.stop();
      return { at: nowMs(), stats: stats() };
    case 'tableAnnounce': {
      const c = conn(cmd.id);
      const f = new TableFrames(cmd.announcer, cmd.vni, cmd.count);
      const startedAt = nowMs();
      for (let i = 0; i < cmd.count; i += cmd.window) {
        const end = Math.min(cmd.count, i + cmd.window);
        c.socket.write(f.buf.subarray(f.frameStart[i], f.frameStart[end]));
        await c.roundTrip(cmd.timeoutMs);
      }
      return { startedAt, at: nowMs() };
    }
    case 'probe':
      conn(cmd.id).socket.write(probeFrame(cmd.vni, 0, cmd.remove));
      return { at: nowMs() };
    case 'wait': {
      const times = await Promise.all(cmd.ids.map((id) => waitCounts({ id, ...cmd })));
      return { at: Math.max(0, ...times), counts: counts(cmd.ids) };
    }
    case 'roundTrip': {
      await Promise.all(
        cmd.ids.filter((id) => conn(id).alive).map((id) => conn(id).roundTrip(cmd.timeoutMs)),
      );
      return { at: nowMs(), counts: counts(cmd.ids) };
    }
    case 'reset': {
      for (const id of cmd.ids ?? [...conns.keys()]) {
        conn(id).counter.resetCounts();
      }
      for (const p of publishing.publishers) {
        p.sentAdds = 0;
        p.sentRemoves = 0;
      }
      return {};
    }
    case 'subscribe': {
      const c = conn(cmd.id);
      const startedAt = nowMs();
      c.subscribe(cmd.vni);
      const at = cmd.then === undefined ? startedAt : await waitCounts(cmd.then);
      return { startedAt, at, counts: cmd.then === undefined ? {} : counts([cmd.then.id]) };
    }
    case 'close': {
      // The wait is armed before the close, so the time it records is exact.
      const reached = cmd.then === undefined ? undefined : waitCounts(cmd.then);
      let startedAt = 0;
      for (const id of cmd.ids) {
        startedAt = Math.max(startedAt, conn(id).close());
        conns.delete(id);
      }
      publishing.publishers = publishing.publishers.filter((p) => conns.has(p.c.id));
      const at = reached === undefined ? startedAt : await reached;
      return { startedAt, at, counts: cmd.then === undefined ? {} : counts([cmd.then.id]) };
    }
    case 'stats':
      return { stats: stats() };
    case 'quiet': {
      const until = nowMs() + cmd.timeoutMs;
      for (;;) {
        const last = Math.max(0, ...cmd.ids.map((id) => conn(id).lastUpdateAt));
        const now = nowMs();
        if (now - last >= cmd.ms || now >= until) break;
        await new Promise((r) =>
          setTimeout(r, Math.max(10, Math.min(cmd.ms - (now - last), until - now))),
        );
      }
      return { at: nowMs(), counts: counts(cmd.ids) };
    }
    case 'details':
      return { details: details(cmd.ids) };
    case 'storm': {
      const startedAt = nowMs();
      const outcome = await storm(cmd);
      return { startedAt, at: nowMs(), storm: outcome };
    }
  }
}

process.on('message', (m: unknown) => {
  if (!isRequest(m)) return;
  run(m).then(
    (r) => {
      send({ seq: m.seq, ok: true, ...r });
    },
    (e: unknown) => {
      send({ seq: m.seq, ok: false, error: e instanceof Error ? e.message : String(e) });
    },
  );
});

// Periodic progress for the driver.
setInterval(() => {
  if (conns.size > 0) send({ event: 'stats', stats: stats() });
}, 250).unref();

// Die with the driver.
process.on('disconnect', () => {
  for (const c of conns.values()) c.close();
  process.exit(0);
});
