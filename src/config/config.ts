// The effective configuration: schema defaults overlaid with a parsed waagent.conf.
// Passed to the code that needs it, never read from a global (a project convention).
import { readFileSync } from 'node:fs';
import { parseIni, type IniEntry } from '../../vendor/tiny-ini/index.ts';
import { AgentError } from '../util/errors.ts';
import { convert } from './convert.ts';
import {
  SCHEMA,
  confSyntax,
  isKnownKey,
  specOf,
  type BoolKey,
  type ConfigKey,
  type IntKey,
  type IntOf,
  type StringKey,
  type StringOf,
  type Value,
} from './schema.ts';

export const DEFAULT_CONFIG_PATH = '/etc/waagent.conf';

export interface ConfigWarning {
  file: string;
  line: number;
  key: string;
  /** the value as written (after "=", surrounding whitespace removed) */
  value: string;
  /** one sentence: "<file>:<line>: ..." */
  message: string;
}

/** A key the schema gives a default holds None all the same (only possible through Config.from). */
export class ConfigValueMissing extends AgentError {
  readonly key: ConfigKey;
  constructor(key: ConfigKey) {
    super('config', `${key} is not set (None), though it has a default`, { key });
    this.key = key;
  }
}

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

  /** Defaults overlaid with `overrides`, taken as they are (for tests and embedded callers). */
  static from(overrides: Partial<Record<ConfigKey, Value>>): Config {
    return new Config(new Map(Object.entries(overrides) as Array<[ConfigKey, Value]>), null, []);
  }

  private raw(key: ConfigKey): Value {
    if (this.values.has(key)) return this.values.get(key)!;
    const spec = specOf(key);
    return spec.defaultFrom !== undefined && isKnownKey(spec.defaultFrom) ? this.raw(spec.defaultFrom) : spec.default;
  }
  /** The effective value; null only for a key without a default (a defaulted one holding null throws ConfigValueMissing). */
  private value(key: ConfigKey): Value {
    const v = this.raw(key);
    if (v === null && specOf(key).default !== null) throw new ConfigValueMissing(key);
    return v;
  }
  bool(key: BoolKey): boolean {
    return this.value(key) as boolean;
  }
  int<K extends IntKey>(key: K): IntOf<K> {
    return this.value(key) as IntOf<K>;
  }
  str<K extends StringKey>(key: K): StringOf<K> {
    return this.value(key) as StringOf<K>;
  }
  /** upstream conf.is_present: the key is set (to something other than None) in waagent.conf. */
  isPresent(key: ConfigKey): boolean {
    return (this.values.get(key) ?? null) !== null;
  }
  /** Every key with its effective value, sorted by key (code-unit order, as Python sorts), as -show-configuration prints it. */
  entries(): Array<[ConfigKey, Value]> {
    return (Object.keys(SCHEMA) as ConfigKey[]).sort().map((k) => [k, this.raw(k)]);
  }
}

/** Lib.Dir, the directory of the agent state; empty is a configuration error (it would make relative paths). */
export function libDirOf(config: Config, purpose = 'the agent state has no place'): string {
  const dir = config.str('Lib.Dir');
  if (!dir) throw new AgentError('config', `Lib.Dir is not set, so ${purpose}`, { key: 'Lib.Dir' });
  return dir;
}

function warning(file: string, e: IniEntry, text: string): ConfigWarning {
  return { file, line: e.line, key: e.key, value: e.raw, message: `${file}:${e.line}: ${text}` };
}

/** Parses the text of a waagent.conf (docs/protocol.md §8.8); `file` names it in messages. */
export function parseConfig(text: string, file: string): Config {
  // The Python agent refuses an empty file; a file of nothing but whitespace is refused too.
  if (text.replace(/^\ufeff/, '').trim() === '') {
    throw new AgentError('config', `the configuration file ${file} is empty`, { file });
  }
  const doc = parseIni(text);
  const values = new Map<ConfigKey, Value>();
  const warnings: ConfigWarning[] = [];
  for (const e of doc.values.values()) {
    if (e.key === '') {
      warnings.push(warning(file, e, `the line "=${e.raw}" has no key before "=" and is ignored`));
      continue;
    }
    if (!isKnownKey(e.key)) {
      warnings.push(warning(file, e, `unknown key ${e.key} is ignored`));
      continue;
    }
    if (e.value === null) continue; // None: unset, the default applies
    const r = convert(specOf(e.key), e.value);
    if (!r.ok) {
      const spec = specOf(e.key);
      const def = spec.defaultFrom !== undefined ? `(the value of ${spec.defaultFrom})` : confSyntax(spec.default);
      warnings.push(warning(file, e, `${e.key} = ${JSON.stringify(e.value)} ${r.problem}; the default ${def} applies`));
      continue;
    }
    values.set(e.key, r.value);
  }
  warnings.sort((a, b) => a.line - b.line);
  return new Config(values, file, warnings);
}

/** Reads and parses a configuration file; an empty, missing or unreadable file is an AgentError of kind 'config'. */
export function loadConfig(file: string = DEFAULT_CONFIG_PATH): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'does not exist'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? 'is not readable'
          : err.code === 'EISDIR'
            ? 'is a directory'
            : `cannot be read (${err.code ?? err.message})`;
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
