// SSH host keys (docs/protocol.md §4.4 step 11): with Provisioning.RegenerateSshHostKeyPair the old keys go and a
// fresh one of Provisioning.SshHostKeyPairType is made (`auto`: every default type, as `ssh-keygen -A`); then the
// fingerprint of the key of that type (rsa for `auto`) is computed — failing there fails provisioning, as upstream.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { sshFingerprint } from '../crypto/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import { run } from '../os/exec.ts';

const TYPES = ['rsa', 'dsa', 'ecdsa', 'ed25519', 'auto'];

function sshDirOf(config: Config): string {
  const dir = config.str('OS.SshDir');
  if (!dir) throw new AgentError('config', 'OS.SshDir is not set, so the SSH host keys have no place');
  return dir;
}

export function hostKeyType(config: Config): string {
  const t = config.str('Provisioning.SshHostKeyPairType').trim().toLowerCase();
  if (!TYPES.includes(t)) throw new AgentError('config', `Provisioning.SshHostKeyPairType=${t} is not one of ${TYPES.join(', ')}`);
  return t;
}

/** Whether a file name in the ssh directory is a host key or its public half (ssh_host_*key*, as upstream deletes). */
export function isHostKeyFile(name: string): boolean {
  return /^ssh_host_.*key.*$/.test(name);
}

/** Host keys being generated ahead of provisioning: installed once provisioning proceeds, or thrown away. */
export interface PreparedHostKeys {
  /**
   * Deletes the old host keys and puts the new ones in OS.SshDir, all but the `deferred` types, which may still be
   * generating; false when regeneration is off.
   */
  install(): Promise<boolean>;
  /** Types install() leaves out (with `auto`: rsa); installDeferred() puts them in place. Empty for a single type. */
  readonly deferred: readonly string[];
  /** Waits for the deferred keys and puts them in OS.SshDir beside the others; the types installed. */
  installDeferred(): Promise<string[]>;
  /** Provisioning does not proceed (media failed, cloud-init owns it): the temporary keys go, nothing else changes. */
  discard(): Promise<void>;
}

const HOST_KEYS_TEMP_PREFIX = 'hostkeys-';

/**
 * With `auto`, the RSA key is not waited for before Ready: RSA-3072 is a random prime search of 0.2–1.2 s of CPU on
 * a small VM (bench/README.md, issue 14), while ed25519 and ECDSA take milliseconds and are what OpenSSH clients
 * negotiate first. It runs at the lowest priority so it does not hold up the rest of provisioning, and goes into
 * place (sshd reloaded again) right after Ready; a restart before that finishes it (provisioned.hostkeys-pending).
 */
const DEFERRED_WITH_AUTO = ['rsa'];
const RSA_NICENESS = 19;

/**
 * The private key directories a run killed before install() or discard() left in Lib.Dir (issue 11: a SIGKILL at any
 * step converges): keys that never went into use, removed before a new one is made. rmSync does not follow links.
 */
function removeStaleKeyDirs(libDir: string): void {
  for (const e of readdirSync(libDir, { withFileTypes: true })) {
    if (!e.name.startsWith(HOST_KEYS_TEMP_PREFIX)) continue;
    log.info(`removing ${e.name}, host keys a killed run left in ${libDir}`);
    rmSync(join(libDir, e.name), { recursive: true, force: true });
  }
}

function keyTypesOf(type: string): string[] {
  return type === 'auto' ? ['rsa', 'ecdsa', 'ed25519'] : [type];
}

/** Copies the generated files of `types` from `from` into OS.SshDir with the atomic writer (Lib.Dir may be another file system). */
async function putInPlace(config: Config, from: string, types: readonly string[]): Promise<void> {
  const dir = sshDirOf(config);
  const names = types.flatMap((t) => [`ssh_host_${t}_key`, `ssh_host_${t}_key.pub`]);
  for (const n of names) writeFileAtomic(join(dir, n), readFileSync(join(from, n)), { mode: statSync(join(from, n)).mode & 0o777 });
}

/**
 * Starts `ssh-keygen` for the configured type(s) at once, into a fresh private directory (mkdtemp: 0700, owned by
 * the agent) under Lib.Dir, never OS.SshDir: they run while the media and the platform are read. Nothing in
 * OS.SshDir changes before install(). `only` generates just those types (a restart finishing deferred keys), and
 * install() then replaces only their files.
 */
export function prepareHostKeys(config: Config, only?: readonly string[]): PreparedHostKeys {
  if (!config.bool('Provisioning.RegenerateSshHostKeyPair')) {
    return { install: async () => false, deferred: [], installDeferred: async () => [], discard: async () => undefined };
  }
  let type: string;
  try {
    type = hostKeyType(config);
  } catch (e) {
    const failed = Promise.reject(e); // surfaces at install(), as a failure of provisioning
    failed.catch(() => undefined);
    return { install: () => failed, deferred: [], installDeferred: async () => [], discard: async () => undefined };
  }
  const types = only ? [...only] : keyTypesOf(type);
  const deferred = only === undefined && type === 'auto' ? types.filter((t) => DEFERRED_WITH_AUTO.includes(t)) : [];
  let tmp: string | null = null;
  const dirReady = (async () => {
    const libDir = libDirOf(config, 'the SSH host keys cannot be generated');
    mkdirSync(libDir, { recursive: true, mode: 0o700 });
    removeStaleKeyDirs(libDir);
    tmp = mkdtempSync(join(libDir, HOST_KEYS_TEMP_PREFIX));
    return tmp;
  })();
  // side by side: with `auto` the RSA key alone takes as long as the other two together
  const generated = new Map(
    types.map((t) => {
      const p = dirReady.then(async (dir) => {
        const key = join(dir, `ssh_host_${t}_key`);
        const niceness = deferred.includes(t) ? RSA_NICENESS : undefined;
        await run(['ssh-keygen', '-q', '-N', '', '-t', t, '-f', key, '-C', ''], { timeoutMs: 30_000, niceness }).catch((e: Error) => {
          throw new AgentError('provisioning', `cannot generate the SSH host key ssh_host_${t}_key: ${e.message}`, { type: t }, e);
        });
        return dir;
      });
      p.catch(() => undefined); // seen by install() or discard(); never an unhandled rejection meanwhile
      return [t, p] as const;
    }),
  );
  const now = types.filter((t) => !deferred.includes(t));
  const removeTemp = () => {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  };
  return {
    deferred,
    async install() {
      try {
        await Promise.all(now.map((t) => generated.get(t)));
        const from = await dirReady;
        const dir = sshDirOf(config);
        const replaced = only ? (n: string) => types.some((t) => n.startsWith(`ssh_host_${t}_key`)) : isHostKeyFile;
        for (const n of readdirSync(dir).filter((n) => isHostKeyFile(n) && replaced(n))) unlinkSync(join(dir, n));
        await putInPlace(config, from, now);
        log.info(`SSH host keys regenerated (${now.join(', ')}) in ${dir}${deferred.length ? `; ${deferred.join(', ')} follows` : ''}`);
        return true;
      } finally {
        if (deferred.length === 0) removeTemp();
      }
    },
    async installDeferred() {
      if (deferred.length === 0) return [];
      try {
        await Promise.all(deferred.map((t) => generated.get(t)));
        await putInPlace(config, await dirReady, deferred);
        log.info(`SSH host key${deferred.length > 1 ? 's' : ''} ${deferred.join(', ')} generated in ${sshDirOf(config)}`);
        return [...deferred];
      } finally {
        removeTemp();
      }
    },
    async discard() {
      await Promise.all([...generated.values()].map((p) => p.catch(() => undefined)));
      removeTemp();
    },
  };
}

/** Deletes the old host keys and makes new ones of Provisioning.SshHostKeyPairType (prepare and install at once). */
export async function regenerateHostKeys(config: Config): Promise<boolean> {
  const keys = prepareHostKeys(config);
  const done = await keys.install();
  await keys.installDeferred();
  return done;
}

/** The type whose fingerprint is reported: the configured one, rsa for `auto` (as upstream). */
export function fingerprintKeyType(config: Config): string {
  return hostKeyType(config) === 'auto' ? 'rsa' : hostKeyType(config);
}

/** The fingerprint ("SHA256:…", as `ssh-keygen -lf` prints it) of the public host key of the configured type, in-process. */
export function hostKeyFingerprint(config: Config): string {
  const type = fingerprintKeyType(config);
  const pub = join(sshDirOf(config), `ssh_host_${type}_key.pub`);
  try {
    return sshFingerprint(readFileSync(pub, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
    throw new AgentError('provisioning', `cannot read the fingerprint of the SSH host key ${pub}: ${why}`, { path: pub }, e);
  }
}
