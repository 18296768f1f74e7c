// Applies the sshd settings of §4.5 to the files under OS.SshDir (plan in sshd-config.ts), checks the result with
// `sshd -t`, and puts the old files back when sshd rejects it: a broken sshd_config locks everyone out of the VM.
import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { run, which } from '../os/exec.ts';
import {
  DROP_IN_NAME,
  opensshVersionInBinary,
  parseOpensshVersion,
  parseSshdLines,
  planSshdConfig,
  sshdSettings,
  type SshdSetting,
} from './sshd-config.ts';

export interface SshdResult {
  mainPath: string;
  /** The files written. */
  written: string[];
  /** 'ok': sshd -t accepted it; 'unverified': sshd -t could not judge (no sshd, no privilege separation directory). A rejection throws. */
  check: 'ok' | 'unverified';
}

/** Larger than any sshd executable (about 1 MiB; a static build a few); a bigger file is asked with `sshd -V`. */
const MAX_SSHD_BYTES = 16 * 1024 * 1024;

/**
 * The sshd executable's bytes, read off the main thread (a 1 MiB read is milliseconds on a busy machine, as long as
 * the fork it replaces); null when it is not a regular file or larger than MAX_SSHD_BYTES.
 */
async function readExecutable(path: string): Promise<Buffer | null> {
  const fh = await open(realpathSync.native(path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_SSHD_BYTES) return null;
    const buf = Buffer.allocUnsafe(st.size); // filled by the reads; only the bytes read are used
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

async function opensshVersion(sshd: string): Promise<[number, number] | null> {
  try {
    const bytes = await readExecutable(sshd);
    const v = bytes === null ? null : opensshVersionInBinary(bytes);
    if (v !== null) return v;
  } catch {
    /* unreadable: ask it */
  }
  try {
    const r = await run([sshd, '-V'], { allowFailure: true, timeoutMs: 3000 });
    return parseOpensshVersion(r.stdout + r.stderr);
  } catch {
    return null;
  }
}

/** Unknown version (no sshd, not recognised): false, the old name, which every OpenSSH still accepts. */
async function opensshAtLeast87(sshd: string | null): Promise<boolean> {
  const v = sshd === null ? null : await opensshVersion(sshd);
  return v !== null && (v[0] > 8 || (v[0] === 8 && v[1] >= 7));
}

/** Writable in place: not a link into /usr (Flatcar ships it there, read-only) and on a writable file system. */
function isWritableInPlace(path: string): boolean {
  try {
    if (lstatSync(path).isSymbolicLink() && realpathSync(path).startsWith('/usr/')) return false;
    accessSync(realpathSync(path), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Drop-ins that sort before ours and set one of our options win over ours: say so (e.g. cloud-init's 50-cloud-init.conf). */
function warnShadowingDropIns(dropInDir: string, settings: readonly SshdSetting[]): void {
  let names: string[];
  try {
    names = readdirSync(dropInDir)
      .filter((n) => n.endsWith('.conf') && n < DROP_IN_NAME)
      .sort();
  } catch {
    return;
  }
  for (const n of names) {
    const lines = parseSshdLines(readOrNull(join(dropInDir, n)) ?? '');
    for (const s of settings) {
      if (lines.some((l) => l.global && l.keyword !== null && s.names.some((x) => x.toLowerCase() === l.keyword))) {
        log.warn(`${join(dropInDir, n)} sets ${s.names[0]} before ${DROP_IN_NAME} does, so its value wins`);
      }
    }
  }
}

/**
 * `sshd -t` with a throw-away host key, so the check works before the host keys exist (they are regenerated later).
 * The key is an ECDSA P-256 key made in-process (SEC1 PEM, which every OpenSSH reads as a host key; mode 0600, or sshd
 * refuses it) in a private temporary directory: no ssh-keygen fork (issue 14).
 * 'ok', the configuration errors sshd printed, or null when sshd -t could not judge.
 */
async function sshdCheck(sshd: string | null, mainPath: string): Promise<'ok' | string | null> {
  if (sshd === null) return null;
  const dir = mkdtempSync(join(tmpdir(), 'waagent-sshd-'));
  try {
    const key = join(dir, 'hostkey');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(key, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    const r = await run([sshd, '-t', '-f', mainPath, '-h', key], { allowFailure: true, timeoutMs: 5000 });
    if (r.code === 0) return 'ok';
    const errors = r.stderr
      .split('\n')
      .filter((l) => /bad configuration option|unsupported option|terminating|line \d+: (?!Deprecated)/i.test(l));
    return errors.length > 0 ? errors.join('; ') : null;
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function configureSshd(config: Config, disablePasswordAuth: boolean): Promise<SshdResult> {
  const sshDir = config.str('OS.SshDir');
  if (!sshDir) throw new AgentError('config', 'OS.SshDir is not set, so sshd cannot be configured');
  // OS.SshdConfigPath: the legacy key some images (F5 BIG-IP) set for an sshd_config elsewhere
  const mainPath = config.str('OS.SshdConfigPath') ?? join(sshDir, 'sshd_config');
  const mainText = readOrNull(mainPath);
  if (mainText === null) throw new AgentError('provisioning', `cannot read the sshd configuration ${mainPath}`, { path: mainPath });
  const sshd = await which('sshd');
  const settings = sshdSettings(disablePasswordAuth, config.int('OS.SshClientAliveInterval'), await opensshAtLeast87(sshd));
  const plan = planSshdConfig(mainText, sshDir, settings, isWritableInPlace(mainPath));
  for (const s of plan.ineffective) log.warn(`${s.names[0]} ${s.value} cannot take effect: ${mainPath} is read-only and sets it first`);

  const dropInDir = join(sshDir, 'sshd_config.d');
  const dropInPath = join(dropInDir, DROP_IN_NAME);
  const oldDropIn = readOrNull(dropInPath);
  const written: string[] = [];
  // Through a symlink that is not into /usr (checked above), the target is edited and the link kept.
  const mainTarget = plan.main === null ? mainPath : realpathSync(mainPath);
  if (plan.main !== null) {
    writeFileAtomic(mainTarget, plan.main, { mode: statSync(mainTarget).mode & 0o7777 });
    written.push(mainPath);
  }
  if (plan.dropIn !== null) {
    writeFileAtomic(dropInPath, plan.dropIn, { mode: 0o644, mkdir: true });
    written.push(dropInPath);
    warnShadowingDropIns(dropInDir, settings);
  }
  const check = await sshdCheck(sshd, mainPath);
  if (check !== 'ok' && check !== null) {
    if (plan.main !== null) writeFileAtomic(mainTarget, mainText, { mode: statSync(mainTarget).mode & 0o7777 });
    if (plan.dropIn !== null) {
      if (oldDropIn === null) unlinkSync(dropInPath);
      else writeFileAtomic(dropInPath, oldDropIn, { mode: 0o644 });
    }
    throw new AgentError('provisioning', `sshd rejected the edited configuration ${mainPath}, which was restored: ${check}`, {
      path: mainPath,
    });
  }
  if (check === null) log.warn(`the sshd configuration ${mainPath} could not be checked with sshd -t`);
  log.info(`sshd: ${settings.map((s) => `${s.names[0]} ${s.value}`).join(', ')} in ${written.join(' and ') || mainPath + ' (unchanged)'}`);
  return { mainPath, written, check: check === 'ok' ? 'ok' : 'unverified' };
}
