// HandlerManifest.json (docs/protocol.md §5.4, §10 item 23): a JSON array whose element [0] is used (a bare object
// is accepted too), the five commands, and flags that may be booleans or strings.
//
// API:
//   parseHandlerManifest(text: string, what?: string, opts?: { required?: readonly CommandName[] }): HandlerManifest
//   readHandlerManifest(path: string, opts?): HandlerManifest      (AgentError 'extension' when missing/unreadable)
//   COMMAND_NAMES, type CommandName
//   interface HandlerManifest  (a superset of lifecycle/ports.ts HandlerManifest)
//
// Rules: a UTF-8 BOM is ignored. Every command in `required` (default: all five) must be a non-empty string; the
// others must be strings when present ("" when absent: the agent's own package only has enableCommand, §5.4).
// reportHeartbeat / continueOnUpdateFailure / supportsMultipleExtensions / rebootAfterInstall: true, or a string
// "true" in any case; anything else is false and, when not a boolean, listed in nonBooleanFlags so the caller can
// log it as the Python agent does. updateMode: missing -> update with install; otherwise only "UpdateWithInstall"
// (any case) installs during an update.
import { dirname } from 'node:path';
import { readFileNoFollow, UnsafeFileError } from '../../os/safe-read.ts';
import { AgentError, describeError } from '../../util/errors.ts';

export const COMMAND_NAMES = ['installCommand', 'uninstallCommand', 'updateCommand', 'enableCommand', 'disableCommand'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface ServiceLimits {
  name: string;
  cpuQuotaPercentage: number | null;
  memoryQuotaInMB: number | null;
}

export interface ResourceLimits {
  cpuQuotaPercentage: number | null;
  memoryQuotaInMB: number | null;
  services: ServiceLimits[] | null;
}

export interface HandlerManifest {
  /** The manifest's own "name" / "version" (informational; the goal state names the handler). */
  name: string | null;
  version: string | number | null;
  installCommand: string;
  uninstallCommand: string;
  updateCommand: string;
  enableCommand: string;
  disableCommand: string;
  rebootAfterInstall: boolean;
  reportHeartbeat: boolean;
  /** updateMode is missing or "UpdateWithInstall" (any case). */
  updateWithInstall: boolean;
  continueOnUpdateFailure: boolean;
  supportsMultipleExtensions: boolean;
  resourceLimits: ResourceLimits | null;
  /** Flags given as something other than a JSON boolean (e.g. "true"), for a log line. */
  nonBooleanFlags: string[];
}

export interface ManifestOptions {
  /** Commands that must be present and non-empty; default all five. */
  required?: readonly CommandName[];
}

const FLAGS = ['rebootAfterInstall', 'reportHeartbeat', 'continueOnUpdateFailure', 'supportsMultipleExtensions'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function resourceLimits(v: unknown): ResourceLimits | null {
  if (!isObject(v)) return null;
  const services = Array.isArray(v.services)
    ? v.services.filter(isObject).map((s) => ({
        name: typeof s.name === 'string' ? s.name : '',
        cpuQuotaPercentage: num(s.cpuQuotaPercentage),
        memoryQuotaInMB: num(s.memoryQuotaInMB),
      }))
    : null;
  return { cpuQuotaPercentage: num(v.cpuQuotaPercentage), memoryQuotaInMB: num(v.memoryQuotaInMB), services };
}

export function parseHandlerManifest(text: string, what = 'HandlerManifest.json', opts: ManifestOptions = {}): HandlerManifest {
  const fail = (why: string): AgentError => new AgentError('extension', `${what} ${why}`, { file: what });
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch (e) {
    throw fail(`is not valid JSON: ${describeError(e)}`);
  }
  if (Array.isArray(doc)) {
    if (doc.length === 0) throw fail('is an empty array');
    doc = doc[0];
  }
  if (!isObject(doc)) throw fail('is not a JSON object or an array of one');
  const hm = doc.handlerManifest;
  if (!isObject(hm)) throw fail('has no "handlerManifest" object');

  const required = new Set<CommandName>(opts.required ?? COMMAND_NAMES);
  const commands = {} as Record<CommandName, string>;
  for (const key of COMMAND_NAMES) {
    const v = hm[key];
    if (v === undefined || v === null) {
      if (required.has(key)) throw fail(`has no "${key}"`);
      commands[key] = '';
    } else if (typeof v !== 'string') {
      throw fail(`has a "${key}" that is not a string`);
    } else if (required.has(key) && v.trim() === '') {
      throw fail(`has an empty "${key}"`);
    } else {
      commands[key] = v;
    }
  }

  const nonBooleanFlags: string[] = [];
  const flag = (key: (typeof FLAGS)[number]): boolean => {
    const v = hm[key];
    if (typeof v === 'boolean') return v;
    if (v !== undefined && v !== null) nonBooleanFlags.push(key);
    return typeof v === 'string' && v.toLowerCase() === 'true';
  };
  const updateMode = hm.updateMode;
  return {
    name: typeof doc.name === 'string' ? doc.name : null,
    version: typeof doc.version === 'string' || typeof doc.version === 'number' ? doc.version : null,
    ...commands,
    rebootAfterInstall: flag('rebootAfterInstall'),
    reportHeartbeat: flag('reportHeartbeat'),
    updateWithInstall:
      updateMode === undefined ||
      updateMode === null ||
      (typeof updateMode === 'string' && updateMode.toLowerCase() === 'updatewithinstall'),
    continueOnUpdateFailure: flag('continueOnUpdateFailure'),
    supportsMultipleExtensions: flag('supportsMultipleExtensions'),
    resourceLimits: resourceLimits(doc.resourceLimits),
    nonBooleanFlags,
  };
}

/** A HandlerManifest.json is a few hundred bytes; a larger one is refused before it is read. */
export const MAX_HANDLER_MANIFEST_BYTES = 1024 * 1024;

/**
 * The text of <Lib.Dir>/<Name>-<Version>/HandlerManifest.json, read without following a link or blocking on a FIFO
 * (the handler's commands run as root in that directory and can replace it), inside Lib.Dir, at most 1 MiB.
 */
export function readHandlerManifestText(path: string): string {
  try {
    return readFileNoFollow(path, { maxBytes: MAX_HANDLER_MANIFEST_BYTES, within: dirname(dirname(path)) }).toString('utf8');
  } catch (e) {
    const missing = e instanceof UnsafeFileError && e.reason === 'missing';
    throw new AgentError(
      'extension',
      missing ? `the handler manifest ${path} does not exist` : `cannot read the handler manifest ${path}: ${describeError(e)}`,
      { file: path },
    );
  }
}

export function readHandlerManifest(path: string, opts: ManifestOptions = {}): HandlerManifest {
  return parseHandlerManifest(readHandlerManifestText(path), `the handler manifest ${path}`, opts);
}
