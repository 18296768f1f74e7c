// The effective configuration: schema defaults overlaid with a parsed waagent.conf.
// Passed to the code that needs it, never read from a global (style.md).
import { readFileSync } from 'node:fs';
import { parseIni } from '../../vendor/tiny-ini/index.ts';
import { AgentError } from '../errors.ts';
import { SCHEMA, isKnownKey, type BoolKey, type ConfigKey, type IntKey, type StringKey } from './schema.ts';

export const DEFAULT_CONFIG_PATH = '/etc/waagent.conf';

export interface ConfigWarning {
  file: string;
  line: number;
  key: string;
  value: string;
  message: string;
}

type Value = boolean | number | string | null;

export class Config {
  readonly path: string | null;
  readonly warnings: ConfigWarning[];
  private readonly values: Map<ConfigKey, Value>;

  constructor(values: Map<ConfigKey, Value>, path: string | null, warnings: ConfigWarning[]) {
    this.values = values;
    this.path = path;
    this.warnings = warnings;
  }

  static defaults(): Config {
    return new Config(new Map(), null, []);
  }

  /** Defaults overlaid with `overrides` (for tests and embedded callers). */
  static from(overrides: Partial<Record<ConfigKey, Value>>): Config {
    return new Config(new Map(Object.entries(overrides) as Array<[ConfigKey, Value]>), null, []);
  }

  private raw(key: ConfigKey): Value {
    return this.values.has(key) ? this.values.get(key)! : SCHEMA[key].default;
  }
  bool(key: BoolKey): boolean {
    return this.raw(key) as boolean;
  }
  int(key: IntKey): number | null {
    return this.raw(key) as number | null;
  }
  str(key: StringKey): string | null {
    return this.raw(key) as string | null;
  }
  /** Every key with its effective value, sorted by key, as `-show-configuration` prints it. */
  entries(): Array<[ConfigKey, Value]> {
    return (Object.keys(SCHEMA) as ConfigKey[]).sort().map((k) => [k, this.raw(k)]);
  }
}

/** Converts one raw value; returns undefined when it cannot be used (the default then applies). */
function convert(key: ConfigKey, value: string): Value | undefined {
  const spec = SCHEMA[key];
  switch (spec.type) {
    case 'bool': {
      const v = value.toLowerCase();
      return v === 'y' ? true : v === 'n' ? false : undefined;
    }
    case 'int':
      // Python int(): optional sign, digits, surrounding whitespace already trimmed; underscores between digits.
      return /^[+-]?\d+(?:_\d+)*$/.test(value) ? Number.parseInt(value.replace(/_/g, ''), 10) : undefined;
    case 'string':
      return value;
  }
}

export function parseConfig(text: string, file: string): Config {
  if (text.replace(/^\ufeff/, '').trim() === '') {
    throw new AgentError('config', `the configuration file ${file} is empty`, { file });
  }
  const doc = parseIni(text);
  const values = new Map<ConfigKey, Value>();
  const warnings: ConfigWarning[] = [];
  for (const e of doc.values.values()) {
    if (!isKnownKey(e.key)) {
      warnings.push({ file, line: e.line, key: e.key, value: e.raw, message: `${file}:${e.line}: unknown key ${e.key} is ignored` });
      continue;
    }
    if (e.value === null) continue; // None: unset, the default applies
    const v = convert(e.key, e.value);
    if (v === undefined) {
      const want = SCHEMA[e.key].type === 'bool' ? 'y or n' : 'an integer';
      warnings.push({
        file,
        line: e.line,
        key: e.key,
        value: e.value,
        message: `${file}:${e.line}: ${e.key}=${e.value} is not ${want}; the default ${formatValue(SCHEMA[e.key].default)} applies`,
      });
      continue;
    }
    values.set(e.key, v);
  }
  return new Config(values, file, warnings);
}

export function loadConfig(file: string = DEFAULT_CONFIG_PATH): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'does not exist' : err.code === 'EACCES' ? 'is not readable' : `cannot be read (${err.code ?? err.message})`;
    throw new AgentError('config', `the configuration file ${file} ${why}`, { file, code: err.code }, e);
  }
  return parseConfig(text, file);
}

/** Python's rendering in -show-configuration: True/False, None for unset. */
export function formatValue(v: Value): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}
