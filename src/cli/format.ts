/** Human-readable lines for route changes, as the CLIs print them on stdout. */

import { formatDestination, type Route, type Vni } from '../model/route.js';

function typeText(r: Route): string {
  const h = r.nextHop;
  if (h.type === 'NAT')
    return `NAT ports ${String(h.natPortRangeFrom)}-${String(h.natPortRangeTo)}`;
  return h.type;
}

/** `[+] VNI 100: 10.0.1.0/24 via 2001:db8::1 (STANDARD)`; a target VNI shows as `(VNI: 500)`. */
export function formatRouteChange(action: 'add' | 'remove', vni: Vni, r: Route): string {
  const target = r.nextHop.targetVni !== 0 ? ` (VNI: ${String(r.nextHop.targetVni)})` : '';
  return `[${action === 'add' ? '+' : '-'}] VNI ${String(vni)}: ${formatDestination(r.destination)} via ${r.nextHop.address}${target} (${typeText(r)})`;
}
