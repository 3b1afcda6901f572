/**
 * Loads the authorisation file and reloads it (on SIGHUP): a reload that fails keeps the policy
 * in force and reports why.
 */

import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

import { MetalBondError, ParseError } from '../errors.js';
import { AuthorizationPolicy, parseAuthorization } from './authorization.js';

export type ReloadResult =
  | { readonly ok: true; readonly policy: AuthorizationPolicy; readonly rules: number }
  | { readonly ok: false; readonly error: MetalBondError; readonly policy: AuthorizationPolicy };

function readError(path: string, e: unknown): ParseError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
  return new ParseError(`cannot read authorization file ${path}: ${why}`);
}

export class AuthorizationLoader {
  private _policy: AuthorizationPolicy;

  private constructor(
    readonly path: string,
    policy: AuthorizationPolicy,
  ) {
    this._policy = policy;
  }

  /** Loads the file at start-up; throws ParseError (unreadable file, invalid content). */
  static loadSync(path: string): AuthorizationLoader {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw readError(path, e);
    }
    return new AuthorizationLoader(path, parseAuthorization(text, path));
  }

  static async load(path: string): Promise<AuthorizationLoader> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw readError(path, e);
    }
    return new AuthorizationLoader(path, parseAuthorization(text, path));
  }

  /** The policy in force. */
  get policy(): AuthorizationPolicy {
    return this._policy;
  }

  /**
   * Reads the file again. On success the new policy is in force and returned; on failure the old
   * one stays and the error says why. Never throws.
   */
  async reload(): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      return { ok: false, error: readError(this.path, e), policy: this._policy };
    }
    try {
      const policy = parseAuthorization(text, this.path);
      this._policy = policy;
      return { ok: true, policy, rules: policy.rules.length };
    } catch (e) {
      const error = e instanceof MetalBondError ? e : new ParseError(`${this.path}: ${String(e)}`);
      return { ok: false, error, policy: this._policy };
    }
  }
}
