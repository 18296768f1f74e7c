// The provisioned user account (docs/protocol.md §4.4 step 8, §10 item 35): `useradd -m` unless it exists, and
// the password — hashed in-process with crypt(3) per Provisioning.PasswordCryptId / PasswordCryptSaltLength and set
// with `usermod -p` — refused for system users (uid below UID_MIN) unless Provisioning.AllowResetSysUser is set.
// In os because provisioning, the RemoteAccess JIT accounts (§2.9) and -deprovision+user all use it.
import { existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { registerSecret } from '../log/redact.ts';
import { run } from './exec.ts';
import { readTextNoFollow, setOwnerAndModeNoFollow } from './safe-read.ts';
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

export interface PasswdSources {
  /** default /etc/nsswitch.conf */
  nsswitchConf?: string;
  /** default /etc/passwd */
  passwdFile?: string;
  /** default /run/systemd/userdb/io.systemd.Home (systemd-homed's userdb socket) */
  homedSocket?: string;
  /** default the userdb drop-in directories of nss-systemd (/etc/userdb, /run/userdb, /run/host/userdb, /usr/local/lib/userdb, /usr/lib/userdb) */
  userdbDirs?: readonly string[];
}

const USERDB_DIRS = ['/etc/userdb', '/run/userdb', '/run/host/userdb', '/usr/local/lib/userdb', '/usr/lib/userdb'];
/** Larger than any real passwd file; a bigger one is left to getent. */
const MAX_PASSWD_BYTES = 32 * 1024 * 1024;

/**
 * The sources of the `passwd:` line of nsswitch.conf, in order (`[NOTFOUND=return]`-style actions kept as written),
 * or null when there is no such line (glibc then has defaults of its own) or more than one (which one glibc takes
 * has changed between versions).
 */
export function passwdSources(nsswitch: string): string[] | null {
  const lines = nsswitch
    .split('\n')
    .map((raw) => /^\s*passwd\s*:([^#]*)/.exec(raw))
    .filter((m) => m !== null);
  if (lines.length !== 1) return null;
  return lines[0]![1]!.trim().split(/\s+/).filter(Boolean);
}

/**
 * True when `getent passwd NAME` would read nothing but /etc/passwd for this name: the `passwd:` sources are `files`
 * and/or `systemd`, with no actions. After files, nss-systemd adds only: root and nobody (every distro's
 * /etc/passwd has both, so files answers first), DynamicUser= service users (named after running services, not
 * admin accounts), and userdb records — systemd-homed users and JSON drop-ins, which are checked here: homed's
 * socket, or a drop-in named after the user, sends the lookup to getent. So for an admin user name the platform
 * gives, the file says what getent would; were a name ever served by nss-systemd alone, useradd (which asks NSS)
 * refuses it as existing and provisioning fails with that message, never with a wrong account.
 */
export function filesAnswerFor(name: string, nsswitch: string | null, opts: PasswdSources = {}): boolean {
  if (nsswitch === null) return false;
  const sources = passwdSources(nsswitch);
  if (sources === null || sources.length === 0 || !sources.every((s) => s === 'files' || s === 'systemd')) return false;
  if (!sources.includes('systemd')) return true;
  if (existsSync(opts.homedSocket ?? '/run/systemd/userdb/io.systemd.Home')) return false;
  return !(opts.userdbDirs ?? USERDB_DIRS).some((d) => existsSync(join(d, `${name}.user`)));
}

/**
 * The first entry for `name` in passwd(5) text, as the files backend reads it; `undefined` when the text holds
 * something that backend treats specially (NIS +/- lines) or a malformed entry for the name, so getent decides.
 */
export function findPasswdEntry(text: string, name: string): UserInfo | null | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('+') || line.startsWith('-')) return undefined;
    if (!line.startsWith(name + ':')) continue;
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
  }
  return null;
}

/** The entry from /etc/passwd itself when NSS would read only that (see filesAnswerFor); `undefined`: ask getent. */
function lookupInFiles(name: string, opts: PasswdSources): UserInfo | null | undefined {
  try {
    const nsswitch = readTextNoFollow(opts.nsswitchConf ?? '/etc/nsswitch.conf', { maxBytes: 1024 * 1024 });
    if (!filesAnswerFor(name, nsswitch, opts)) return undefined;
    const passwd = readTextNoFollow(opts.passwdFile ?? '/etc/passwd', { maxBytes: MAX_PASSWD_BYTES });
    return passwd === null ? undefined : findPasswdEntry(passwd, name);
  } catch {
    return undefined; // a link, a FIFO, too large: getent reads it its own way
  }
}

/**
 * The passwd entry, or null when there is none. Read straight from /etc/passwd where NSS would read only that
 * (issue 14: each getent is a fork of the whole agent, 20–40 ms on a busy machine); through `getent passwd`
 * otherwise (LDAP, SSSD, NIS compat, no nsswitch.conf).
 */
export async function lookupUser(name: string, opts: PasswdSources = {}): Promise<UserInfo | null> {
  const fromFiles = lookupInFiles(validateUserName(name), opts);
  if (fromFiles !== undefined) return fromFiles;
  const r = await run(['getent', 'passwd', name], { allowFailure: true, timeoutMs: 5000 });
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
export async function ensureUser(
  name: string,
  passwordHash?: () => string,
  sources: PasswdSources = {},
): Promise<{ user: UserInfo; created: boolean }> {
  const existing = await lookupUser(name, sources);
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
  const user = await lookupUser(name, sources);
  if (!user) throw new AgentError('provisioning', `useradd reported success but the user ${name} does not exist`, { user: name });
  log.info(`user ${name} created (uid ${user.uid})`);
  if (hash !== undefined) log.info(`password of ${name} set`);
  return { user, created: true };
}

/**
 * The user with its password (§4.4 step 8): a new user is made with it (useradd -p), an existing one gets it through
 * setUserPassword (which refuses system users). The same end state as ensureUser then setUserPassword, one command less.
 */
export async function ensureUserWithPassword(
  config: Config,
  name: string,
  password: string,
  sources: PasswdSources = {},
): Promise<UserInfo> {
  registerSecret(password);
  const { user, created } = await ensureUser(
    name,
    () => {
      const hash = hashPassword(config, password);
      registerSecret(hash);
      return hash;
    },
    sources,
  );
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
