// Helpers of the provisioning unit tests: temp roots, a Config on them, and fake system tools on PATH that
// record how they were called (the real useradd, hostname, systemctl must never run on the host).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config, type ConfigKey } from '../../../src/config/index.ts';
import { isAgentError, type ErrorKind } from '../../../src/util/errors.ts';

const made: string[] = [];
// at exit, not in an after() hook: a hook registered from inside before() runs too early
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-prov-'));
  made.push(dir);
  return dir;
}

export function configOn(root: string, extra: Partial<Record<ConfigKey, string | number | boolean | null>> = {}): Config {
  return Config.from({
    'Lib.Dir': join(root, 'lib'),
    'OS.SshDir': join(root, 'ssh'),
    'OS.SudoersDir': join(root, 'sudoers.d'),
    'OS.HomeDir': join(root, 'home'),
    'OS.PasswordPath': join(root, 'shadow'),
    ...extra,
  });
}

export interface FakeTools {
  bin: string;
  /** every call as its argv joined by spaces, in order */
  calls(): string[];
}

/**
 * Puts scripts named after tools first on PATH for the rest of the test file (each test file is its own process). Each records its argv in a log,
 * then runs its body (sh), e.g. `exit 3` or `echo enabled`.
 */
export function fakeTools(tools: Record<string, string>): FakeTools {
  const bin = tempRoot();
  const logFile = join(bin, 'calls.log');
  writeFileSync(logFile, '');
  for (const [name, body] of Object.entries(tools)) {
    const p = join(bin, name);
    writeFileSync(p, `#!/bin/sh\necho "${name} $*" >> '${logFile}'\n${body}\n`);
    chmodSync(p, 0o755);
  }
  process.env.PATH = `${bin}:${process.env.PATH}`;
  return { bin, calls: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean) };
}

export async function rejectsWith(p: Promise<unknown> | (() => unknown), kind: ErrorKind, pattern: RegExp): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (!isAgentError(e, kind)) throw new Error(`expected an AgentError of kind ${kind}, got ${String(e)}`);
    if (!pattern.test(e.message)) throw new Error(`the message "${e.message}" does not match ${pattern}`);
    return e.message;
  }
  throw new Error(`expected an AgentError of kind ${kind} matching ${pattern}, but nothing was thrown`);
}
