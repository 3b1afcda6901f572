/**
 * Scalars as Go's encoders write them, for /routes.json (encoding/json) and /routes.yaml
 * (gopkg.in/yaml.v2 2.4, which Go MetalBond uses). Pure.
 */

/** A JSON string as encoding/json writes it (HTML-safe: <, > and & escaped, U+2028/9 too). */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

// ---- yaml.v2 ----

/** Plain words yaml.v2 resolves to null, bool or float (resolve.go's table). */
const YAML_SPECIAL_WORDS = new Set([
  '~',
  'null',
  'Null',
  'NULL',
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'on',
  'On',
  'ON',
  'true',
  'True',
  'TRUE',
  'n',
  'N',
  'no',
  'No',
  'NO',
  'off',
  'Off',
  'OFF',
  'false',
  'False',
  'FALSE',
  '.nan',
  '.NaN',
  '.NAN',
  '.inf',
  '.Inf',
  '.INF',
  '+.inf',
  '+.Inf',
  '+.INF',
  '-.inf',
  '-.Inf',
  '-.INF',
  '<<',
]);

const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const YAML_BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const GO_INT = /^[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*|0)$/;
const YAML_BINARY = /^[-+]?0b[01]+$/;
/** Layouts yaml.v2 accepts as timestamps: 2006-1-2T15:4:5.999999999Z07:00 and friends. */
const YAML_TIMESTAMP =
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]| )[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})?)?$/;

/** Whether yaml.v2 would read `s`, written plain, as something other than a string. */
export function yamlResolvesNonString(s: string): boolean {
  if (s === '' || YAML_SPECIAL_WORDS.has(s)) return true;
  const c = s.charAt(0);
  if (!/[-+.0-9]/.test(c)) return false;
  const plain = s.replace(/_/g, '');
  if (GO_INT.test(plain) || YAML_BINARY.test(plain) || YAML_FLOAT.test(plain)) return true;
  if (/[0-9]/.test(c) && YAML_TIMESTAMP.test(s)) return true;
  return false;
}

/** libyaml's analysis of a scalar, as far as the choice of style needs it. */
function yamlPlainAllowed(s: string): boolean {
  if (s.startsWith('---') || s.startsWith('...')) return false;
  if (s.startsWith(' ') || s.endsWith(' ')) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    const next = s.charAt(i + 1);
    const followedBySpace = next === '' || next === ' ' || next === '\t';
    if (!/[\x20-\x7e]/.test(c)) return false;
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) return false;
      if ((c === '?' || c === ':' || c === '-') && followedBySpace) return false;
    } else {
      if (c === ':' && followedBySpace) return false;
      if (c === '#' && s.charAt(i - 1) === ' ') return false;
    }
  }
  return true;
}

/** Whether libyaml may single-quote `s` (printable ASCII on one line). */
function yamlSingleQuoteAllowed(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

function yamlDoubleQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else if (code <= 0xff) out += `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (code <= 0xffff) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += `\\U${code.toString(16).toUpperCase().padStart(8, '0')}`;
  }
  return `${out}"`;
}

/**
 * A string scalar as yaml.v2 writes it in block context: double-quoted when plain text would read
 * as another type, otherwise plain when libyaml allows it, else single-quoted.
 */
export function yamlString(s: string): string {
  if (yamlResolvesNonString(s) || YAML_BASE60_FLOAT.test(s)) return yamlDoubleQuoted(s);
  if (yamlPlainAllowed(s)) return s;
  if (yamlSingleQuoteAllowed(s)) return `'${s.replace(/'/g, "''")}'`;
  return yamlDoubleQuoted(s);
}

/** `2006-01-02 15:04:05` in local time, as Go's `time.Now().Format` in http.go. */
export function goLocalDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${String(d.getFullYear()).padStart(4, '0')}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
