// Turns one raw waagent.conf value into the typed value of its key, with the Python agent's rules
// (docs/protocol.md §8.8): switches are y/n only (any case), integers follow Python's int(), strings stay as
// written. On top of that (ours), the schema's choices and limits: a value outside them is not usable either.
import type { KeySpec, Value } from './schema.ts';

export type Conversion = { ok: true; value: Value } | { ok: false; problem: string };

// Python's int() on a str: optional sign, decimal digits with single underscores between them. (Surrounding
// whitespace is already stripped by the reader; non-ASCII decimal digits, which Python also accepts, are not.)
const PY_INT = /^[+-]?\d+(?:_\d+)*$/;

export function parsePyInt(text: string): number | undefined {
  if (!PY_INT.test(text)) return undefined;
  const n = Number(text.replace(/_/g, ''));
  return n === 0 ? 0 : n; // no -0
}

export function convert(spec: KeySpec, raw: string): Conversion {
  switch (spec.type) {
    case 'bool': {
      const v = raw.toLowerCase();
      if (v === 'y') return { ok: true, value: true };
      if (v === 'n') return { ok: true, value: false };
      return { ok: false, problem: 'is not y or n' };
    }
    case 'int': {
      const n = parsePyInt(raw);
      if (n === undefined) return { ok: false, problem: 'is not an integer' };
      if (!Number.isSafeInteger(n)) return { ok: false, problem: 'is too large' };
      if (spec.min !== undefined && n < spec.min) {
        return {
          ok: false,
          problem: spec.min === 1 && spec.max === undefined ? 'is not a positive integer' : `is below the minimum ${spec.min}`,
        };
      }
      if (spec.max !== undefined && n > spec.max) return { ok: false, problem: `is above the maximum ${spec.max}` };
      return { ok: true, value: n };
    }
    case 'string': {
      if (!spec.choices) return { ok: true, value: raw };
      const hit = spec.choices.find((c) => c.toLowerCase() === raw.toLowerCase());
      return hit !== undefined ? { ok: true, value: hit } : { ok: false, problem: `is not one of ${spec.choices.join(', ')}` };
    }
  }
}
