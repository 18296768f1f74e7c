// Running a handler command inside a transient systemd scope in the extension's slice (docs/protocol.md §5.8, §5.10),
// so its processes are accounted to, and limited by, `azure-vmextensions-<Handler>.slice`.
import { existsSync } from 'node:fs';
import { AgentError } from '../util/errors.ts';
import { which } from '../os/exec.ts';

/** HandlerManifest `resourceLimits` that apply to the command's processes. */
export interface SliceLimits {
  cpuQuotaPercentage?: number;
  memoryQuotaInMB?: number;
}

/** systemd unit names allow ASCII letters, digits and `:_.\-`; anything else becomes `_`. */
function unitSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9:_.-]/g, '_');
}

/**
 * `azure-vmextensions-<Handler[.ext]>.slice`, without the version and with `-` replaced by `_`, since `-` is the
 * hierarchy separator of slice names (§5.10).
 */
export function extensionSliceName(handlerName: string, extensionName?: string): string {
  const name = extensionName ? `${handlerName}.${extensionName}` : handlerName;
  return `azure-vmextensions-${unitSafe(name).replace(/-/g, '_')}.slice`;
}

/** The transient scope's unit name (without `.scope`): `<name>_<ms timestamp>`. */
export function scopeUnitName(name: string, nowMs: number = Date.now()): string {
  return `${unitSafe(name)}_${nowMs}`;
}

function checkLimit(what: string, value: number | undefined, owner: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) {
    throw new AgentError('extension', `the resource limit ${what} of ${owner} is ${value}, expected a positive number`, {
      handler: owner,
      limit: what,
    });
  }
  return value;
}

/**
 * The systemd-run command line that runs `command` (an argv) in a scope of the extension slice. Without limits the
 * scope's own CPU/memory accounting is switched off as upstream does, so the counters stay on the slice; a limit from
 * the HandlerManifest is set on the scope itself (CPUQuota=<n>%, MemoryMax=<n>M), which makes it effective whether
 * or not the slice unit has been given the same limit.
 */
export function scopeArgv(opts: {
  systemdRun: string;
  unit: string;
  slice: string;
  limits?: SliceLimits;
  owner: string;
  command: readonly string[];
}): string[] {
  const cpu = checkLimit('cpuQuotaPercentage', opts.limits?.cpuQuotaPercentage, opts.owner);
  const mem = checkLimit('memoryQuotaInMB', opts.limits?.memoryQuotaInMB, opts.owner);
  const props = [
    cpu === undefined ? '--property=CPUAccounting=no' : `--property=CPUQuota=${cpu}%`,
    mem === undefined ? '--property=MemoryAccounting=no' : `--property=MemoryMax=${Math.round(mem)}M`,
  ];
  return [opts.systemdRun, ...props, `--unit=${opts.unit}`, '--scope', `--slice=${opts.slice}`, ...opts.command];
}

/**
 * Whether systemd-run got as far as starting the scope. It prints "Running scope as unit: <unit>.scope" on stderr
 * before running the command; a run that failed without that line (or with "Unit <unit>.scope not found.") failed
 * in systemd-run itself, not in the extension (upstream _is_systemd_failure).
 */
export function scopeStarted(stderrHead: string, unit: string): boolean {
  const scope = `${unit}.scope`;
  return stderrHead.includes(scope) && !stderrHead.includes(`Unit ${scope} not found.`);
}

/**
 * The path of systemd-run when systemd is the running init (sd_booted: `runDir` exists) and the tool is installed,
 * else null. `binary` replaces the PATH lookup (tests).
 */
export async function systemdRunPath(runDir = '/run/systemd/system', binary?: string): Promise<string | null> {
  if (!existsSync(runDir)) return null;
  return which(binary ?? 'systemd-run');
}
