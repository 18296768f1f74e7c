// JSON text the way Python's json.dumps writes it with its defaults, for files extensions read that the Python
// agent writes with json.dumps (HandlerEnvironment.json §5.5, <seq>.settings §5.6) and the status blob (§6.1): ", " and ": " separators,
// non-ASCII escaped as \uXXXX (ensure_ascii), insertion order kept. Extensions written against the Python agent
// sometimes parse these files with more than a JSON parser (grep, sed), so the bytes should match.
//
// API:
//   pythonJsonDumps(value: unknown): string
//   class PyFloat { constructor(value: number) }   a number Python holds as a float: 1 is written "1.0"
//
// JavaScript cannot tell 1.0 from 1 once parsed, so numbers are written as integers when integral (what
// json.dumps writes for ints); PyFloat marks the few places where the agent itself writes a float.

export class PyFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
  /** JSON.stringify (our own tests, logs) writes it as the plain number. */
  toJSON(): number {
    return this.value;
  }
}

function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

/** Python's repr of a float: exponent form below 1e-4 and from 1e16 up, "1.0" for integral values. */
function floatRepr(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    // JavaScript: "1e-7", "1.5e+21"; Python: "1e-07", "1.5e+21" (at least two exponent digits).
    const [mant, exp] = n.toExponential().split('e');
    const sign = exp![0] === '-' ? '-' : '+';
    return `${mant}e${sign}${exp!.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  const s = String(n);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

function dump(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof PyFloat) return floatRepr(v.value);
  switch (typeof v) {
    case 'string':
      return escapeString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isInteger(v) && Math.abs(v) < 1e21 ? BigInt(v).toString() : floatRepr(v);
    case 'bigint':
      return v.toString();
    case 'object':
      if (Array.isArray(v)) return `[${v.map(dump).join(', ')}]`;
      return `{${Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => `${escapeString(k)}: ${dump(x)}`)
        .join(', ')}}`;
    default:
      return 'null';
  }
}

export function pythonJsonDumps(value: unknown): string {
  return dump(value);
}
