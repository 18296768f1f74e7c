// JSON text as the Python agent's json.dumps writes it (azure-protocol.md §6.1): ", " and ": " separators,
// non-ASCII escaped as \uXXXX (ensure_ascii), and floats that keep their ".0" (the inner `"version": 1.0`).
// The status blob is compared and archived by tools used to the Python agent's output; we produce the same bytes.
//
// API: toPythonJson(value: unknown): string;  class JsonFloat (a number written with a fraction, e.g. 1.0)

/** A number that must be written as a float: `new JsonFloat(1)` → `1.0`. JSON.stringify writes it as a plain number. */
export class JsonFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
  toJSON(): number {
    return this.value;
  }
  toString(): string {
    return Number.isInteger(this.value) ? `${this.value}.0` : String(this.value);
  }
}

function str(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters as Python does; what is left outside
  // printable ASCII (DEL, non-ASCII, surrogate halves) becomes \uXXXX, code unit by code unit, like ensure_ascii.
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function toPythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof JsonFloat) return Number.isFinite(value.value) ? value.toString() : 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
      return str(value);
    case 'bigint':
      return value.toString();
    case 'object':
      if (Array.isArray(value)) return `[${value.map(toPythonJson).join(', ')}]`;
      return `{${Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${str(k)}: ${toPythonJson(v)}`)
        .join(', ')}}`;
    default:
      return 'null';
  }
}
