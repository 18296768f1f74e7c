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
  /** Deletes the old host keys and puts the new ones in OS.SshDir; false when regeneration is off. */
  install(): Promise<boolean>;
  /** Provisioning does not proceed (media failed, cloud-init owns it): the temporary keys go, nothing else changes. */
  discard(): Promise<void>;
}

const HOST_KEYS_TEMP_PREFIX = 'hostkeys-';

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

/**
 * Starts `ssh-keygen` for the configured type(s) at once, into a fresh private directory (mkdtemp: 0700, owned by
 * the agent) under Lib.Dir, never OS.SshDir: RSA-3072 takes 0.2–1 s and is the long pole of provisioning, so it
 * runs while the media and the platform are read. Nothing in OS.SshDir changes before install().
 */
export function prepareHostKeys(config: Config): PreparedHostKeys {
  if (!config.bool('Provisioning.RegenerateSshHostKeyPair')) return { install: async () => false, discard: async () => undefined };
  let tmp: string | null = null;
  const generated = (async () => {
    const type = hostKeyType(config);
    const libDir = libDirOf(config, 'the SSH host keys cannot be generated');
    mkdirSync(libDir, { recursive: true, mode: 0o700 });
    removeStaleKeyDirs(libDir);
    tmp = mkdtempSync(join(libDir, HOST_KEYS_TEMP_PREFIX));
    // `ssh-keygen -A` writes under <prefix>/etc/ssh; the same types one by one keep OS.SshDir honoured anywhere.
    const types = type === 'auto' ? ['rsa', 'ecdsa', 'ed25519'] : [type];
    // side by side: with `auto` the RSA key alone takes as long as the other two together
    await Promise.all(
      types.map(async (t) => {
        const key = join(tmp!, `ssh_host_${t}_key`);
        await run(['ssh-keygen', '-q', '-N', '', '-t', t, '-f', key, '-C', ''], { timeoutMs: 30_000 }).catch((e: Error) => {
          throw new AgentError('provisioning', `cannot generate the SSH host key ssh_host_${t}_key: ${e.message}`, { type: t }, e);
        });
      }),
    );
    return { dir: tmp, types };
  })();
  generated.catch(() => undefined); // seen by install() or discard(); never an unhandled rejection meanwhile
  const removeTemp = () => {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  };
  return {
    async install() {
      try {
        const { dir: from, types } = await generated;
        const dir = sshDirOf(config);
        for (const n of readdirSync(dir).filter(isHostKeyFile)) unlinkSync(join(dir, n));
        // the atomic writer in OS.SshDir: Lib.Dir may be another file system, and sshd never sees half a key
        for (const n of readdirSync(from)) {
          writeFileAtomic(join(dir, n), readFileSync(join(from, n)), { mode: statSync(join(from, n)).mode & 0o777 });
        }
        log.info(`SSH host keys regenerated (${types.join(', ')}) in ${dir}`);
        return true;
      } finally {
        removeTemp();
      }
    },
    async discard() {
      await generated.catch(() => undefined);
      removeTemp();
    },
  };
}

/** Deletes the old host keys and makes new ones of Provisioning.SshHostKeyPairType (prepare and install at once). */
export async function regenerateHostKeys(config: Config): Promise<boolean> {
  return prepareHostKeys(config).install();
}

/** The fingerprint ("SHA256:…", as `ssh-keygen -lf` prints it) of the public host key of the configured type, in-process. */
export function hostKeyFingerprint(config: Config): string {
  const type = hostKeyType(config) === 'auto' ? 'rsa' : hostKeyType(config);
  const pub = join(sshDirOf(config), `ssh_host_${type}_key.pub`);
  try {
    return sshFingerprint(readFileSync(pub, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
    throw new AgentError('provisioning', `cannot read the fingerprint of the SSH host key ${pub}: ${why}`, { path: pub }, e);
  }
}
