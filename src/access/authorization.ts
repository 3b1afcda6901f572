/**
 * The authorisation file (docs/security.md): rules mapping a client identity (certificate subject
 * or SAN, or source CIDR) to the VNIs it may announce into and subscribe to. A client gets the
 * union of the rules that match it; no matching rule, no right. Pure: parses text, answers
 * questions (the file loader is in authorization-loader.ts).
 */

import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type Pair } from 'yaml';

import { ParseError } from '../errors.js';
import { CidrList, addressBytes, cidrContainsBytes, parseCidr, type Cidr } from './cidr.js';
import type { Identity } from './identity.js';
import { VniSet, parseVniList } from './vni-set.js';

/** What one identity may do. */
export interface Rights {
  readonly announce: VniSet;
  readonly subscribe: VniSet;
  /** Names of the rules that granted them (empty: no rule matched, or no file). */
  readonly rules: readonly string[];
  mayAnnounce(vni: number): boolean;
  maySubscribe(vni: number): boolean;
}

function makeRights(announce: VniSet, subscribe: VniSet, rules: readonly string[]): Rights {
  return {
    announce,
    subscribe,
    rules,
    mayAnnounce: (vni) => announce.has(vni),
    maySubscribe: (vni) => subscribe.has(vni),
  };
}

/** Everything allowed: the rights of every peer when no authorisation file is given. */
export const ALL_RIGHTS: Rights = makeRights(VniSet.ALL, VniSet.ALL, []);
/** Nothing allowed: the rights of a peer no rule matches. */
export const NO_RIGHTS: Rights = makeRights(VniSet.EMPTY, VniSet.EMPTY, []);

/** A compiled `*` pattern: `*` matches any run of characters (in DNS names: within one label). */
class Pattern {
  private readonly re: RegExp;
  constructor(
    readonly text: string,
    dns: boolean,
  ) {
    const star = dns ? '[^.]*' : '.*';
    const body = text
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join(star);
    this.re = new RegExp(`^${body}$`, dns ? 'i' : '');
  }
  test(s: string): boolean {
    return this.re.test(s);
  }
}

/** A subject pattern: every attribute given must be present with a matching value. */
type SubjectPattern = readonly (readonly [attribute: string, value: Pattern])[];

export interface AuthorizationRule {
  /** The rule's `name`, or `rule N` (1-based position). */
  readonly name: string;
  /** 1-based line of the rule in the file (0 when built in code). */
  readonly line: number;
  readonly cidr: CidrList | undefined;
  readonly subject: readonly SubjectPattern[] | undefined;
  readonly dns: readonly Pattern[] | undefined;
  readonly ip: readonly Cidr[] | undefined;
  readonly uri: readonly Pattern[] | undefined;
  readonly announce: VniSet;
  readonly subscribe: VniSet;
}

function ruleMatches(rule: AuthorizationRule, id: Identity): boolean {
  if (rule.cidr !== undefined && !rule.cidr.matches(id.address)) return false;
  const needsCert =
    rule.subject !== undefined ||
    rule.dns !== undefined ||
    rule.ip !== undefined ||
    rule.uri !== undefined;
  if (!needsCert) return true;
  const cert = id.certificate;
  if (cert === undefined) return false;
  if (rule.subject !== undefined) {
    const ok = rule.subject.some((pattern) =>
      pattern.every(([attr, value]) => (cert.subject[attr] ?? []).some((v) => value.test(v))),
    );
    if (!ok) return false;
  }
  const sans = (type: string): string[] =>
    cert.san.filter((s) => s.type === type).map((s) => s.value);
  if (rule.dns !== undefined) {
    const names = sans('DNS');
    if (!rule.dns.some((p) => names.some((n) => p.test(n)))) return false;
  }
  if (rule.uri !== undefined) {
    const uris = sans('URI');
    if (!rule.uri.some((p) => uris.some((u) => p.test(u)))) return false;
  }
  if (rule.ip !== undefined) {
    const ips = sans('IP')
      .map((a) => addressBytes(a))
      .filter((b): b is Uint8Array => b !== undefined);
    if (!rule.ip.some((c) => ips.some((b) => cidrContainsBytes(c, b)))) return false;
  }
  return true;
}

export class AuthorizationPolicy {
  constructor(
    readonly rules: readonly AuthorizationRule[],
    /** Where it came from (file path), for messages. */
    readonly source = 'authorization',
  ) {}

  /** The union of the rights of every rule matching `identity`; NO_RIGHTS when none does. */
  rights(identity: Identity): Rights {
    let announce = VniSet.EMPTY;
    let subscribe = VniSet.EMPTY;
    const names: string[] = [];
    for (const r of this.rules) {
      if (!ruleMatches(r, identity)) continue;
      announce = announce.union(r.announce);
      subscribe = subscribe.union(r.subscribe);
      names.push(r.name);
    }
    return names.length === 0 ? NO_RIGHTS : makeRights(announce, subscribe, names);
  }
}

/** The rights of a peer: everything when no policy is configured. */
export function rightsFor(policy: AuthorizationPolicy | undefined, identity: Identity): Rights {
  return policy === undefined ? ALL_RIGHTS : policy.rights(identity);
}

/**
 * What a peer holds that its (new) rights no longer allow: the VNIs to unsubscribe it from and
 * the VNIs in which to withdraw its routes (as if it had sent UNSUBSCRIBE and REMOVEs). Used on
 * SIGHUP after a reload.
 */
export function revoked(
  rights: Rights,
  held: { readonly subscribed: Iterable<number>; readonly announcedVnis: Iterable<number> },
): { unsubscribe: number[]; withdrawIn: number[] } {
  return {
    unsubscribe: [...held.subscribed].filter((v) => !rights.maySubscribe(v)),
    withdrawIn: [...held.announcedVnis].filter((v) => !rights.mayAnnounce(v)),
  };
}

// ---- parsing ----

const RULE_KEYS = ['name', 'match', 'announce', 'subscribe'];
const MATCH_KEYS = ['cidr', 'subject', 'dns', 'ip', 'uri'];

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function strings(value: unknown, what: string): string[] {
  return list(value).map((v, i) => {
    if (typeof v !== 'string' || v.trim() === '')
      throw new ParseError(`${what} item ${String(i + 1)}: expected a non-empty string`);
    return v.trim();
  });
}

/** `CN=hv-*, O=Example` (a `\,` is a literal comma) or a map `{ CN: hv-*, O: Example }`. */
function parseSubjectPattern(value: unknown, what: string): SubjectPattern {
  const pairs: [string, string][] = [];
  if (typeof value === 'string') {
    for (const part of value.split(/(?<!\\),/)) {
      const t = part.trim().replace(/\\,/g, ',');
      if (t === '') continue;
      const eq = t.indexOf('=');
      if (eq <= 0) throw new ParseError(`${what}: '${t}' is not ATTRIBUTE=VALUE (e.g. CN=agent-1)`);
      pairs.push([t.slice(0, eq).trim(), t.slice(eq + 1).trim()]);
    }
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string' && typeof v !== 'number')
        throw new ParseError(`${what}: attribute ${k} must be a string`);
      pairs.push([k, String(v)]);
    }
  } else {
    throw new ParseError(`${what}: expected 'CN=...,O=...' or a map of attributes`);
  }
  if (pairs.length === 0) throw new ParseError(`${what}: empty subject`);
  return pairs.map(([k, v]) => [k, new Pattern(v, false)] as const);
}

function lineOf(node: Node | null | undefined, lc: LineCounter): number {
  const r = node?.range;
  return r === undefined || r === null ? 0 : lc.linePos(r[0]).line;
}

function keyOf(p: Pair): string {
  return isScalar(p.key) ? String(p.key.value) : String(p.key);
}

function parseRule(node: unknown, index: number, lc: LineCounter): AuthorizationRule {
  const line = lineOf(node as Node, lc);
  let name = `rule ${String(index + 1)}`;
  let label = name;
  const at = (l: number): string => `${label} (line ${String(l)})`;
  if (!isMap(node))
    throw new ParseError(`${at(line)}: expected a map with match/announce/subscribe`);
  const nameNode = node.items.find((p) => keyOf(p) === 'name');
  if (nameNode !== undefined) {
    const v = isScalar(nameNode.value) ? nameNode.value.value : undefined;
    if (typeof v !== 'string' || v.trim() === '')
      throw new ParseError(`${at(line)}: name must be a non-empty string`);
    name = v.trim();
    label = `rule ${String(index + 1)} '${name}'`;
  }
  const fields: Record<string, { value: unknown; line: number; node: unknown }> = {};
  for (const p of node.items) {
    const k = keyOf(p);
    const l = lineOf(p.key as Node, lc) || line;
    if (!RULE_KEYS.includes(k))
      throw new ParseError(`${at(l)}: unknown key '${k}' (expected ${RULE_KEYS.join(', ')})`);
    const v = p.value as Node | null;
    fields[k] = { value: v === null ? null : (v.toJSON() as unknown), line: l, node: v };
  }
  const m = fields.match;
  if (m === undefined) throw new ParseError(`${at(line)}: missing 'match'`);
  if (!isMap(m.node))
    throw new ParseError(`${at(m.line)}: match must be a map of ${MATCH_KEYS.join(', ')}`);
  const match: Record<string, { value: unknown; line: number }> = {};
  for (const p of m.node.items) {
    const k = keyOf(p);
    const l = lineOf(p.key as Node, lc) || m.line;
    if (!MATCH_KEYS.includes(k))
      throw new ParseError(
        `${at(l)}: unknown match key '${k}' (expected ${MATCH_KEYS.join(', ')})`,
      );
    const v = p.value as Node | null;
    match[k] = { value: v === null ? null : (v.toJSON() as unknown), line: l };
  }
  if (Object.keys(match).length === 0)
    throw new ParseError(`${at(m.line)}: match is empty (use cidr: '::/0' to match everybody)`);
  const wrap = <T>(k: string, f: (v: unknown, what: string) => T): T | undefined => {
    const e = match[k];
    if (e === undefined) return undefined;
    try {
      if (e.value === null || (Array.isArray(e.value) && e.value.length === 0))
        throw new ParseError(`${k}: empty`);
      return f(e.value, k);
    } catch (err) {
      throw new ParseError(
        `${at(e.line)}: match ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  const rights = (k: 'announce' | 'subscribe'): VniSet => {
    const e = fields[k];
    if (e === undefined) return VniSet.EMPTY;
    try {
      return parseVniList(e.value, k);
    } catch (err) {
      throw new ParseError(`${at(e.line)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const announce = rights('announce');
  const subscribe = rights('subscribe');
  if (fields.announce === undefined && fields.subscribe === undefined)
    throw new ParseError(`${at(line)}: grants nothing (give announce and/or subscribe)`);
  return {
    name,
    line,
    cidr: wrap('cidr', (v, w) => new CidrList(strings(v, w).map((s) => parseCidr(s)))),
    subject: wrap('subject', (v, w) =>
      list(v).map((s, i) => parseSubjectPattern(s, `${w} item ${String(i + 1)}`)),
    ),
    dns: wrap('dns', (v, w) => strings(v, w).map((s) => new Pattern(s, true))),
    ip: wrap('ip', (v, w) => strings(v, w).map((s) => parseCidr(s))),
    uri: wrap('uri', (v, w) => strings(v, w).map((s) => new Pattern(s, false))),
    announce,
    subscribe,
  };
}

/**
 * Parses an authorisation file (YAML; JSON is YAML too). Throws ParseError naming the source,
 * the rule and its line.
 */
export function parseAuthorization(text: string, source = 'authorization'): AuthorizationPolicy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const where = ` at line ${String(lc.linePos(first.pos[0]).line)}`;
    throw new ParseError(`${source}${where}: ${first.message.split('\n')[0] ?? 'invalid YAML'}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new ParseError(`${source}: expected a map with a 'rules' list`);
  for (const p of root.items) {
    const k = keyOf(p);
    if (k !== 'rules' && k !== 'version') {
      throw new ParseError(
        `${source} line ${String(lineOf(p.key, lc))}: unknown key '${k}' (expected rules, version)`,
      );
    }
    if (k === 'version' && !(isScalar(p.value) && p.value.value === 1)) {
      throw new ParseError(`${source} line ${String(lineOf(p.key, lc))}: version must be 1`);
    }
  }
  const rules = root.get('rules', true);
  if (rules === undefined) throw new ParseError(`${source}: missing 'rules'`);
  if (!isSeq(rules))
    throw new ParseError(`${source} line ${String(lineOf(rules, lc))}: rules must be a list`);
  const parsed = rules.items.map((r, i) => {
    try {
      return parseRule(r, i, lc);
    } catch (e) {
      if (e instanceof ParseError) throw new ParseError(`${source}: ${e.message}`);
      throw e;
    }
  });
  return new AuthorizationPolicy(parsed, source);
}
