// The goal-state history (docs/protocol.md §7.3): `<lib>/history/<YYYY-MM-DDTHH-MM-SS>__<tag>/` holds the documents
// of one goal state (GoalState.xml, ExtensionsConfig.xml and VmSettings.json redacted, HostingEnvironmentConfig.xml,
// SharedConfig.xml, Certificates.json, RemoteAccess.xml, <name>.manifest.xml) and the last status sent for it
// (waagent_status.json). A folder is made only when a NEW goal state arrives (a new tag); status saves go into the
// current folder and never make one, so a WireServer unreachable for days cannot fill the disk (WALinuxAgent
// issue #2836: 1.26 M files). The history is bounded in entries and in bytes; the oldest entries go first.
//
// API:
//   new GoalStateHistory(opts: HistoryOptions)
//   .beginGoalState(tag: string): string          the folder of this goal state (made, or reused if current)
//   .save(fileName: string, content: string): boolean     into the current folder, redacted
//   .saveStatus(json: string): boolean            waagent_status.json into the current folder
//   .current: string | null
//   .purge(): void                                drop the oldest entries beyond the bounds
//   historyTag(incarnation: string, etag?: string | null): string
import { lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { redact } from '../log/redact.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export const HISTORY_DIR = 'history';
export const STATUS_FILE = 'waagent_status.json';
/** §7.3: at most 50 entries (folders, and the zips older agents left). */
export const DEFAULT_MAX_ENTRIES = 50;
/** Our own byte bound (the spec has none): the history never takes more than this. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Names the history writes or older agents left: `<timestamp>__<tag>` folders and `.zip` archives. */
const ENTRY = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}__.+/;
/** Files that may be written into a folder: the documents of §7.3, and no path tricks. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface HistoryOptions {
  /** Lib.Dir, /var/lib/waagent */
  libDir: string;
  maxEntries?: number;
  maxBytes?: number;
  now?: () => Date;
}

/** `<incarnation>` or `<incarnation>-<etag>` (vmSettings), reduced to characters safe in a file name. */
export function historyTag(incarnation: string, etag?: string | null): string {
  const raw = etag ? `${incarnation}-${etag}` : incarnation;
  return raw.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || '_';
}

function timestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replaceAll(':', '-');
}

/** Bytes under a path (files counted by size; symlinks not followed). */
function sizeOf(path: string): number {
  let st: import('node:fs').Stats;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += sizeOf(join(path, name));
  return total;
}

export class GoalStateHistory {
  readonly dir: string;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => Date;
  #current: string | null = null;
  #currentTag: string | null = null;

  constructor(opts: HistoryOptions) {
    this.dir = join(opts.libDir, HISTORY_DIR);
    this.#maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#now = opts.now ?? (() => new Date());
  }

  /** The current goal state's folder, or null before the first goal state. */
  get current(): string | null {
    return this.#current;
  }

  /**
   * The folder for a goal state: the current one when the tag is unchanged (a re-fetch of the same goal state makes
   * nothing new), else `<timestamp>__<tag>`, made after purging the oldest entries. Returns its path.
   */
  #lastStatus: string | null = null;

  beginGoalState(tag: string): string {
    const safe = historyTag(tag);
    if (this.#current !== null && this.#currentTag === safe) return this.#current;
    const path = join(this.dir, `${timestamp(this.#now())}__${safe}`);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    this.#current = path;
    this.#currentTag = safe;
    this.purge();
    return path;
  }

  /**
   * Writes one document into the current folder, redacted (SAS tokens, protected settings, passwords). Returns false
   * (and writes nothing) before the first goal state. A failure is logged, never thrown: history is diagnostics.
   */
  save(fileName: string, content: string): boolean {
    if (!FILE_NAME.test(fileName)) {
      log.warn(`not saving "${fileName}" to the goal-state history: it is not a plain file name`);
      return false;
    }
    if (this.#current === null) return false;
    try {
      // atomic, not durable: diagnostics, written on every new goal state (a crash may lose the last copy)
      writeFileAtomic(join(this.#current, fileName), redact(content), { mode: 0o600, mkdir: true, durable: false });
      return true;
    } catch (e) {
      log.warn(`cannot save ${fileName} to the goal-state history: ${describeError(e)}`);
      return false;
    }
  }

  /**
   * §6.1: the status document sent this cycle, as waagent_status.json of the current goal state. Rewritten only when
   * something other than its timestamps changed: the same status every 6 s for days would otherwise be a write (and
   * two fsyncs) per cycle on the VM's disk that tells nobody anything.
   */
  saveStatus(json: string): boolean {
    const key = `${this.#current}\0${json.replace(/"(timestampUTC|timestamp)": "[^"]*"/g, '"$1": ""')}`;
    if (this.#current !== null && key === this.#lastStatus) return true;
    const saved = this.save(STATUS_FILE, json);
    if (saved) this.#lastStatus = key;
    return saved;
  }

  /**
   * Removes the oldest entries (by their timestamped names) until at most maxEntries remain and they take at most
   * maxBytes. The current folder is never removed. Names the history does not know are left alone.
   */
  purge(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir)
        .filter((n) => ENTRY.test(n))
        .sort();
    } catch {
      return;
    }
    const entries = names.map((name) => ({ name, path: join(this.dir, name), bytes: sizeOf(join(this.dir, name)) }));
    let count = entries.length;
    let bytes = entries.reduce((a, e) => a + e.bytes, 0);
    for (const e of entries) {
      if (count <= this.#maxEntries && bytes <= this.#maxBytes) break;
      if (e.path === this.#current) continue;
      try {
        rmSync(e.path, { recursive: true, force: true });
        count--;
        bytes -= e.bytes;
      } catch (err) {
        log.warn(`cannot remove the old goal-state history entry ${e.path}: ${describeError(err)}`);
      }
    }
  }
}
