// The provisioned user account (docs/protocol.md §4.4 step 8, §10 item 35): `useradd -m` unless it exists, and
// the password — hashed in-process with crypt(3) per Provisioning.PasswordCryptId / PasswordCryptSaltLength and set
// with `usermod -p` — refused for system users (uid below UID_MIN) unless Provisioning.AllowResetSysUser is set.
// In os because provisioning, the RemoteAccess JIT accounts (§2.9) and -deprovision+user all use it.
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { registerSecret } from '../log/redact.ts';
import { run } from './exec.ts';
import { setOwnerAndModeNoFollow } from './safe-read.ts';
import { cryptPassword } from '../crypto/index.ts';

export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export const DEFAULT_LOGIN_DEFS = '/etc/login.defs';
/** The Python agent's fallback when login.defs has no UID_MIN. */
export const DEFAULT_UID_MIN = 100;

/** Names useradd accepts on every distro (and that cannot be taken for an option). */
export function validateUserName(name: string): string {
  if (!/^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(name)) {
    throw new AgentError('provisioning', `the user name "${name}" is not a valid Linux user name`, { user: name });
  }
  return name;
}

export function parseUidMin(loginDefs: string): number | null {
  const m = /^\s*UID_MIN\s+(\d+)\s*$/m.exec(loginDefs);
  return m ? Number(m[1]) : null;
}

export function readUidMin(loginDefsPath: string = DEFAULT_LOGIN_DEFS): number {
  try {
    return parseUidMin(readFileSync(loginDefsPath, 'utf8')) ?? DEFAULT_UID_MIN;
  } catch {
    return DEFAULT_UID_MIN;
  }
}

/** The passwd entry through NSS (`getent passwd`), or null when there is none. */
export async function lookupUser(name: string): Promise<UserInfo | null> {
  const r = await run(['getent', 'passwd', validateUserName(name)], { allowFailure: true, timeoutMs: 5000 });
  if (r.code === 2) return null; // "key not found"
  const f = r.stdout.trim().split('\n')[0]?.split(':') ?? [];
  if (r.code !== 0 || f.length < 7) {
    throw new AgentError('provisioning', `cannot look up the user ${name}: getent exited with code ${r.code}`, { user: name });
  }
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}

/**
 * An existing user whose home directory is missing gets it (0750, owned by the user): `useradd -m` killed between
 * writing /etc/passwd and making the home (a provisioning interrupted and run again) leaves exactly that, and the
 * keys could not be deployed. Nothing is done when anything is there, a link included.
 */
function ensureHome(user: UserInfo): void {
  try {
    lstatSync(user.home);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
  }
  try {
    mkdirSync(user.home, { mode: 0o750 });
    setOwnerAndModeNoFollow(user.home, { uid: user.uid, gid: user.gid, kind: 'directory' });
    log.warn(`the home directory ${user.home} of ${user.name} was missing (an interrupted useradd?); it is made now`);
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `cannot make the missing home directory ${user.home} of ${user.name}: ${(e as Error).message}`,
      { user: user.name },
      e,
    );
  }
}

/**
 * Creates the user with a home directory unless it exists. `passwordHash` (called only for a new user; a crypt(3)
 * hash, never the password) goes to useradd -p, as setUserPassword gives it to usermod -p: user and password in one command.
 */
export async function ensureUser(name: string, passwordHash?: () => string): Promise<{ user: UserInfo; created: boolean }> {
  const existing = await lookupUser(name);
  if (existing) {
    log.info(`user ${name} exists already`);
    ensureHome(existing);
    return { user: existing, created: false };
  }
  const hash = passwordHash?.();
  try {
    await run(['useradd', '-m', ...(hash === undefined ? [] : ['-p', hash]), name], { timeoutMs: 30_000 });
  } catch (e) {
    throw new AgentError('provisioning', `cannot create the user ${name}: ${(e as Error).message}`, { user: name }, e);
  }
  const user = await lookupUser(name);
  if (!user) throw new AgentError('provisioning', `useradd reported success but the user ${name} does not exist`, { user: name });
  log.info(`user ${name} created (uid ${user.uid})`);
  if (hash !== undefined) log.info(`password of ${name} set`);
  return { user, created: true };
}

/**
 * The user with its password (§4.4 step 8): a new user is made with it (useradd -p), an existing one gets it through
 * setUserPassword (which refuses system users). The same end state as ensureUser then setUserPassword, one command less.
 */
export async function ensureUserWithPassword(config: Config, name: string, password: string): Promise<UserInfo> {
  registerSecret(password);
  const { user, created } = await ensureUser(name, () => {
    const hash = hashPassword(config, password);
    registerSecret(hash);
    return hash;
  });
  if (!created) await setUserPassword(config, user, password);
  return user;
}

/** The crypt(3) hash of the password per Provisioning.PasswordCryptId (6 SHA-512, 5 SHA-256, 1 MD5) and salt length. */
export function hashPassword(config: Config, password: string): string {
  const id = config.str('Provisioning.PasswordCryptId').trim();
  if (id !== '1' && id !== '5' && id !== '6') {
    throw new AgentError('config', `Provisioning.PasswordCryptId=${id} is not 6 (SHA-512), 5 (SHA-256) or 1 (MD5)`, { value: id });
  }
  const saltLength = config.int('Provisioning.PasswordCryptSaltLength');
  // crypt(3) uses at most 16 salt characters (8 for MD5); a longer salt would be cut silently.
  const max = id === '1' ? 8 : 16;
  if (saltLength < 1 || saltLength > max) {
    throw new AgentError('config', `Provisioning.PasswordCryptSaltLength=${saltLength} is not between 1 and ${max} for crypt id ${id}`, {
      value: saltLength,
    });
  }
  return cryptPassword(password, id, saltLength);
}

export interface PasswordOptions {
  /** default /etc/login.defs */
  loginDefs?: string;
}

export async function setUserPassword(config: Config, user: UserInfo, password: string, opts: PasswordOptions = {}): Promise<void> {
  registerSecret(password);
  const uidMin = readUidMin(opts.loginDefs);
  if (user.uid < uidMin && !config.bool('Provisioning.AllowResetSysUser')) {
    throw new AgentError(
      'provisioning',
      `refusing to set the password of the system user ${user.name} (uid ${user.uid} is below UID_MIN ${uidMin}; Provisioning.AllowResetSysUser is off)`,
      { user: user.name, uid: user.uid },
    );
  }
  const hash = hashPassword(config, password);
  registerSecret(hash);
  try {
    await run(['usermod', '-p', hash, user.name], { timeoutMs: 30_000 });
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `cannot set the password of the user ${user.name}: ${(e as Error).message}`,
      { user: user.name },
      e,
    );
  }
  log.info(`password of ${user.name} set`);
}
