/**
 * Write coalescing: sessions with queued frames are flushed once per event-loop turn (setImmediate
 * runs after all readable sockets of the poll phase were processed), so every frame produced while
 * handling a burst of input leaves in one socket write per peer.
 */

interface Flushable {
  flush(): void;
}

/**
 * Sessions waiting for this turn's flush, process-wide on purpose: one setImmediate flushes every
 * session of every server and client in the process, after all readable sockets were handled.
 */
let dirty: Flushable[] = [];
let scheduled = false;

function run(): void {
  scheduled = false;
  const batch = dirty;
  dirty = [];
  for (const s of batch) s.flush();
}

export function scheduleFlush(s: Flushable): void {
  dirty.push(s);
  if (!scheduled) {
    scheduled = true;
    setImmediate(run);
  }
}
