// SSH keys of the provisioned user (docs/protocol.md §4.7, §10 items 31–33): inline keys, keys given by a
// certificate thumbprint (<Lib.Dir>/<FP>.crt, converted in-process) and key pairs (<Lib.Dir>/<FP>.prv).
// authorized_keys is appended to, never replaced, and a key already there is not added again, so keys put there
// by someone else (Flatcar's Ignition) survive. The directory holding a key file is 0700 and the user's. Key files
// live under the user's home only, and nothing there that the user could have planted (a link) is followed.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { run, which } from '../os/exec.ts';
import { readFileNoFollow, setOwnerAndModeNoFollow, UnsafeFileError } from '../os/safe-read.ts';
import { opensshPublicKey, parseOpensshPublicKey } from '../crypto/index.ts';

export interface Owner {
  name: string;
  uid: number;
  gid: number;
  /** the user's home directory: every key file must be under it */
  home: string;
}

/** authorized_keys larger than this is not read (it is the user's file; a huge one is refused, not loaded) */
const MAX_AUTHORIZED_KEYS_BYTES = 1024 * 1024;

/** A PublicKey of ovf-env.xml: Value wins over Fingerprint when both are given. */
export interface PublicKeySpec {
  path: string;
  fingerprint?: string | null;
  value?: string | null;
}

export interface KeyPairSpec {
  path: string;
  fingerprint: string;
}

/** `$HOME` is OS.HomeDir, not the user's home (§10 item 31); the result is normalised and must be absolute. */
export function resolveKeyPath(config: Config, path: string): string {
  const resolved = posix.normalize(path.trim().split('$HOME').join(config.str('OS.HomeDir')));
  if (!posix.isAbsolute(resolved) || resolved.endsWith('/')) {
    throw new AgentError('provisioning', `the SSH key path "${path}" does not name an absolute file path`, { path });
  }
  return resolved;
}

/**
 * The key of an inline Value: surrounding whitespace (Azure-generated keys end in CRLF) dropped, then exactly one
 * OpenSSH public key line of a known type whose data decodes to a key of that type (parseOpensshPublicKey).
 * Upstream only checks the "ssh-" prefix and writes the rest verbatim, so a second line with options or a
 * command would reach authorized_keys; ECDSA and security-key types, which it refuses, are accepted here.
 */
export function inlineKeys(value: string): string[] {
  const key = value.trim();
  if (key === '') throw new AgentError('provisioning', 'an SSH public key in ovf-env.xml is empty');
  try {
    parseOpensshPublicKey(key);
  } catch (e) {
    const shown = JSON.stringify(key.slice(0, 24)).slice(1, -1);
    throw new AgentError('provisioning', `the SSH public key "${shown}…" in ovf-env.xml is refused: ${describeError(e)}`, {}, e);
  }
  return [key];
}

/** Key identity: type and base64 blob, whatever the options and comment around them. */
function keyIdentity(line: string): string | null {
  const m = /(?:^|\s)((?:ssh-|ecdsa-|sk-)\S+)\s+([A-Za-z0-9+/]+=*)(?:\s|$)/.exec(line);
  return m ? `${m[1]} ${m[2]}` : null;
}

/** authorized_keys with the keys appended that it does not hold yet (comments and order of the rest kept). */
export function appendAuthorizedKeys(existing: string, keys: readonly string[]): string {
  const have = new Set(
    existing
      .split('\n')
      .map(keyIdentity)
      .filter((k): k is string => k !== null),
  );
  let out = existing.replace(/\r/g, '');
  if (out !== '' && !out.endsWith('\n')) out += '\n';
  for (const k of keys) {
    const id = keyIdentity(k) ?? k;
    if (have.has(id)) continue;
    have.add(id);
    out += k + '\n';
  }
  return out;
}

/**
 * A key path of ovf-env.xml resolved and confined to the user's home directory: the platform must not be able to
 * make the agent write (and hand to the user) a file anywhere else, such as /etc/cron.d or root's authorized_keys.
 */
export function keyPathFor(config: Config, owner: Owner, path: string): string {
  const resolved = resolveKeyPath(config, path);
  const home = posix.normalize(owner.home).replace(/\/+$/, '');
  if (home === '' || !resolved.startsWith(home + '/')) {
    throw new AgentError('provisioning', `the SSH key path "${path}" is outside the home directory of ${owner.name} (${owner.home})`, {
      path,
      home: owner.home,
    });
  }
  return resolved;
}

/**
 * Creates the key file's directory as the user's, 0700, one level at a time below the home directory, without
 * following links: a `~/.ssh` that the user made a link to a root directory must not be chowned through the link.
 * Owner and mode are set on the open directory, never by path.
 */
function prepareDir(file: string, owner: Owner): void {
  const home = posix.normalize(owner.home).replace(/\/+$/, '');
  let dir = home;
  for (const part of dirname(file)
    .slice(home.length + 1)
    .split('/')
    .filter(Boolean)) {
    dir = join(dir, part);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      setOwnerAndModeNoFollow(dir, { uid: owner.uid, gid: owner.gid, mode: 0o700, kind: 'directory' });
    } catch (e) {
      const what =
        e instanceof UnsafeFileError && e.reason === 'symlink'
          ? 'a symbolic link'
          : e instanceof UnsafeFileError && e.reason === 'not-regular'
            ? 'not a directory'
            : (e as Error).message;
      throw new AgentError('provisioning', `the SSH key directory ${dir} is ${what}; the agent does not follow or replace it`, {
        path: dir,
      });
    }
  }
}

/** The authorized_keys there now: empty when missing or when it is a link (replaced, never read through). */
function existingAuthorizedKeys(path: string, owner: Owner): string {
  try {
    return readFileNoFollow(path, { maxBytes: MAX_AUTHORIZED_KEYS_BYTES, within: owner.home }).toString('utf8');
  } catch (e) {
    if (e instanceof UnsafeFileError && e.reason === 'missing') return '';
    if (e instanceof UnsafeFileError && e.reason === 'symlink') {
      log.warn(`${path} was a symbolic link: it is replaced by a regular file holding the provisioned keys, and its target is not read`);
      return '';
    }
    throw new AgentError('provisioning', `the existing ${path} cannot be used: ${(e as Error).message}`, { path }, e);
  }
}

async function labelForSelinux(path: string): Promise<void> {
  if (!existsSync('/sys/fs/selinux/enforce') || !(await which('chcon'))) return;
  await run(['chcon', 'unconfined_u:object_r:ssh_home_t:s0', path], { timeoutMs: 5000 }).catch((e: Error) => log.warn(e.message));
}

/** OpenSSH form of a public key PEM, through the crypto module; `what` names the source in the error. */
function opensshFromPem(pem: string, what: string): string {
  try {
    return opensshPublicKey(pem);
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `the key of ${what} cannot be converted to an SSH key: ${(e as Error).message}`,
      { source: what },
      e,
    );
  }
}

function normaliseThumbprint(fp: string): string {
  const t = fp.replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(t))
    throw new AgentError('provisioning', `the SSH key thumbprint "${fp}" is not a SHA-1 thumbprint`, { thumbprint: fp });
  return t;
}

function readLibFile(config: Config, name: string, what: string, fp: string): string {
  const path = join(libDirOf(config, 'the certificates of SSH keys cannot be found'), name);
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new AgentError('provisioning', `the ${what} for the SSH key thumbprint ${fp} was not found (${path})`, { thumbprint: fp, path });
  }
}

/** The OpenSSH key of the certificate <Lib.Dir>/<FP>.crt; its SubjectPublicKeyInfo PEM is kept as <FP>.pub (0600), as upstream. */
export function keyFromCertificate(config: Config, fingerprint: string): string {
  const fp = normaliseThumbprint(fingerprint);
  const pem = readLibFile(config, `${fp}.crt`, 'certificate', fp);
  let spki: string;
  try {
    spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `the certificate ${fp}.crt for an SSH key cannot be read: ${(e as Error).message}`,
      { thumbprint: fp },
      e,
    );
  }
  writeFileAtomic(join(libDirOf(config, 'the certificates of SSH keys cannot be found'), `${fp}.pub`), spki, { mode: 0o600 });
  return opensshFromPem(spki, `${fp}.crt`);
}

export async function deployPublicKey(config: Config, owner: Owner, key: PublicKeySpec): Promise<string> {
  const path = keyPathFor(config, owner, key.path);
  let keys: string[];
  if (key.value && key.value.trim() !== '') keys = inlineKeys(key.value);
  else if (key.fingerprint && key.fingerprint.trim() !== '') keys = [keyFromCertificate(config, key.fingerprint)];
  else throw new AgentError('provisioning', `the SSH public key for ${key.path} has neither a value nor a thumbprint`, { path: key.path });
  prepareDir(path, owner);
  const existing = existingAuthorizedKeys(path, owner);
  writeFileAtomic(path, appendAuthorizedKeys(existing, keys), { mode: 0o644, uid: owner.uid, gid: owner.gid });
  await labelForSelinux(path);
  log.info(`SSH public key${keys.length > 1 ? 's' : ''} for ${owner.name} in ${path}`);
  return path;
}

/**
 * A key pair: <Lib.Dir>/<FP>.prv copied to the path, its public key to <path>.pub in OpenSSH format.
 * Modes: 0600 for the private key and 0644 for the public one. The Python agent sets them the other way round
 * (§10 item 33), leaving the private key world-readable and ssh refusing it; this is a deliberate fix.
 */
export async function deployKeyPair(config: Config, owner: Owner, pair: KeyPairSpec): Promise<string> {
  const path = keyPathFor(config, owner, pair.path);
  const fp = normaliseThumbprint(pair.fingerprint);
  const prv = readLibFile(config, `${fp}.prv`, 'private key', fp);
  let spki: string;
  try {
    spki = createPublicKey(createPrivateKey(prv)).export({ type: 'spki', format: 'pem' }).toString();
  } catch (e) {
    throw new AgentError(
      'provisioning',
      `the private key ${fp}.prv of an SSH key pair cannot be read: ${(e as Error).message}`,
      { thumbprint: fp },
      e,
    );
  }
  prepareDir(path, owner);
  writeFileAtomic(path, prv, { mode: 0o600, uid: owner.uid, gid: owner.gid });
  writeFileAtomic(`${path}.pub`, opensshFromPem(spki, `${fp}.prv`) + '\n', { mode: 0o644, uid: owner.uid, gid: owner.gid });
  await labelForSelinux(path);
  log.info(`SSH key pair ${fp} for ${owner.name} in ${path}`);
  return path;
}
