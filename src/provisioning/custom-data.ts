// CustomData (docs/protocol.md §4.4 step 9): saved to <Lib.Dir>/CustomData — the base64 text as given, or decoded
// when Provisioning.DecodeCustomData or ExecuteCustomData is set — and run when ExecuteCustomData is set.
// The file is 0600 (the Python agent leaves it world-readable; custom data often carries secrets).
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { run } from '../os/exec.ts';

export interface CustomDataResult {
  path: string;
  decoded: boolean;
  /** exit code of the executed script; undefined when not executed */
  exitCode?: number;
}

export interface CustomDataOptions {
  /** bound on the script's run time; default 300 s (the Python agent waits forever, holding Ready back) */
  timeoutMs?: number;
}

/** Strict base64 (whitespace ignored): a malformed value is an error, not silently garbled bytes. */
export function decodeBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw new AgentError('provisioning', 'the CustomData in ovf-env.xml is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

export async function handleCustomData(
  config: Config,
  base64: string | null | undefined,
  opts: CustomDataOptions = {},
): Promise<CustomDataResult | null> {
  if (base64 === null || base64 === undefined || base64.trim() === '') return null;
  const lib = libDirOf(config, 'the CustomData has no place');
  const path = join(lib, 'CustomData');
  const execute = config.bool('Provisioning.ExecuteCustomData');
  const decode = execute || config.bool('Provisioning.DecodeCustomData');
  writeFileAtomic(path, decode ? decodeBase64(base64) : base64, { mode: execute ? 0o700 : 0o600, mkdir: true });
  log.info(`CustomData saved to ${path}${decode ? ' (decoded)' : ''}`);
  if (!execute) return { path, decoded: decode };
  const timeoutMs = opts.timeoutMs ?? 300_000;
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run([path], { cwd: lib, allowFailure: true, timeoutMs, maxOutput: 64 * 1024, processGroup: true });
  } catch (e) {
    throw new AgentError('provisioning', `the CustomData script ${path} could not be run: ${(e as Error).message}`, { path }, e);
  }
  // The logger redacts secrets; the output is the script's, so it is logged as it is, bounded above.
  const output = (r.stdout + r.stderr).trim();
  const line = `CustomData script exited with code ${r.code}${output ? `; output: ${output}` : ''}`;
  if (r.code === 0) log.info(line);
  else log.warn(line);
  return { path, decoded: true, exitCode: r.code };
}
