/** Sums of session traffic (bytes, messages by type) for status pages and metrics. Pure. */

import { MESSAGE_TYPE_NAMES } from '../wire/messages.js';
import type { SessionStats } from './session.js';

export interface Traffic {
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** By message type name (HELLO, KEEPALIVE, ... SYNCED, REFUSED). */
  readonly messagesIn: Readonly<Record<string, number>>;
  readonly messagesOut: Readonly<Record<string, number>>;
}

export class TrafficSum {
  bytesIn = 0;
  bytesOut = 0;
  private readonly inByType: number[] = [];
  private readonly outByType: number[] = [];

  constructor(from?: TrafficSum) {
    if (from !== undefined) {
      this.bytesIn = from.bytesIn;
      this.bytesOut = from.bytesOut;
      this.inByType.push(...from.inByType);
      this.outByType.push(...from.outByType);
    }
  }

  add(s: SessionStats): void {
    this.bytesIn += s.bytesIn;
    this.bytesOut += s.bytesOut;
    addInto(this.inByType, s.inByType);
    addInto(this.outByType, s.outByType);
  }

  result(): Traffic {
    return {
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: byName(this.inByType),
      messagesOut: byName(this.outByType),
    };
  }
}

function addInto(into: number[], from: readonly number[]): void {
  from.forEach((n, i) => {
    into[i] = (into[i] ?? 0) + n;
  });
}

/** Every message type, 0 included. */
function byName(byType: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [code, name] of Object.entries(MESSAGE_TYPE_NAMES)) {
    if (name !== undefined) out[name] = byType[Number(code)] ?? 0;
  }
  return out;
}

const FAMILIES = ['ipv4', 'ipv6'] as const;
const TYPES = ['standard', 'nat', 'loadbalancer_target'] as const;

/** Counts by keyFamilyType() index as labelled rows (every combination, 0 included). */
export function routeKindCounts(counts: readonly number[]): {
  family: (typeof FAMILIES)[number];
  type: (typeof TYPES)[number];
  count: number;
}[] {
  const out = [];
  for (let f = 0; f < FAMILIES.length; f++) {
    for (let t = 0; t < TYPES.length; t++) {
      out.push({
        family: FAMILIES[f] ?? 'ipv4',
        type: TYPES[t] ?? 'standard',
        count: counts[f * TYPES.length + t] ?? 0,
      });
    }
  }
  return out;
}
