/** The expected view of every soak client, kept incrementally as digests (count, hash sum). */

import { routeKey } from '../src/model/wire-route.js';
import { keyHash, peerRoute } from '../test/helpers/peer-group.js';

export class Expectation {
  readonly vniOf: number[];
  readonly announced: number[][];
  readonly nextN: number[];
  private readonly ownCount: number[];
  private readonly ownHash: number[];
  private readonly vniCount = new Map<number, number>();
  private readonly vniHash = new Map<number, number>();

  constructor(clients: number, vnis: number, routes: number) {
    this.vniOf = Array.from({ length: clients }, (_, i) => 1000 + (i % vnis));
    this.announced = Array.from({ length: clients }, () => []);
    this.nextN = Array.from({ length: clients }, () => 0);
    this.ownCount = new Array<number>(clients).fill(0);
    this.ownHash = new Array<number>(clients).fill(0);
    for (let i = 0; i < clients; i++) for (let n = 0; n < routes; n++) this.announce(i);
  }

  private h(i: number, n: number): number {
    return keyHash(routeKey(this.vniOf[i] ?? 0, peerRoute(i, n)));
  }

  private add(i: number, n: number, sign: 1 | -1): void {
    const v = this.vniOf[i] ?? 0;
    const h = this.h(i, n);
    this.ownCount[i] = (this.ownCount[i] ?? 0) + sign;
    this.ownHash[i] = ((this.ownHash[i] ?? 0) + sign * h) >>> 0;
    this.vniCount.set(v, (this.vniCount.get(v) ?? 0) + sign);
    this.vniHash.set(v, ((this.vniHash.get(v) ?? 0) + sign * h) >>> 0);
  }

  /** Client i announces its next route; returns its number. */
  announce(i: number): number {
    const n = this.nextN[i] ?? 0;
    this.nextN[i] = n + 1;
    this.announced[i]?.push(n);
    this.add(i, n, 1);
    return n;
  }

  /** Client i withdraws its oldest route; returns its number. */
  withdrawOldest(i: number): number | undefined {
    const n = this.announced[i]?.shift();
    if (n !== undefined) this.add(i, n, -1);
    return n;
  }

  expected(i: number): [number, number] {
    const v = this.vniOf[i] ?? 0;
    return [
      (this.vniCount.get(v) ?? 0) - (this.ownCount[i] ?? 0),
      ((this.vniHash.get(v) ?? 0) - (this.ownHash[i] ?? 0)) >>> 0,
    ];
  }
}
