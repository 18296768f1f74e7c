// SSH host keys (docs/protocol.md §4.4 step 11): with Provisioning.RegenerateSshHostKeyPair the old keys go and a
// fresh one of Provisioning.SshHostKeyPairType is made (`auto`: every default type, as `ssh-keygen -A`); then the
// fingerprint of the key of that type (rsa for `auto`) is computed — failing there fails provisioning, as upstream.
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { sshFingerprint } from '../crypto/index.ts';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
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

export async function regenerateHostKeys(config: Config): Promise<boolean> {
  if (!config.bool('Provisioning.RegenerateSshHostKeyPair')) return false;
  const dir = sshDirOf(config);
  const type = hostKeyType(config);
  for (const n of readdirSync(dir).filter(isHostKeyFile)) unlinkSync(join(dir, n));
  // `ssh-keygen -A` writes under <prefix>/etc/ssh; the same types one by one keep OS.SshDir honoured anywhere.
  const types = type === 'auto' ? ['rsa', 'ecdsa', 'ed25519'] : [type];
  // side by side: with `auto` the RSA key alone takes as long as the other two together
  await Promise.all(
    types.map(async (t) => {
      const key = join(dir, `ssh_host_${t}_key`);
      await run(['ssh-keygen', '-q', '-N', '', '-t', t, '-f', key, '-C', ''], { timeoutMs: 30_000 }).catch((e: Error) => {
        throw new AgentError('provisioning', `cannot generate the SSH host key ${key}: ${e.message}`, { path: key }, e);
      });
    }),
  );
  log.info(`SSH host keys regenerated (${types.join(', ')}) in ${dir}`);
  return true;
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
