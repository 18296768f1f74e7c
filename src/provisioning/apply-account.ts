// The account part of provisioning (docs/protocol.md §4.4 step 8, §4.5, §4.7): the user, its password, the sudo
// rule, sshd's settings and the SSH keys. Keys that need the goal state's certificates (thumbprints, key pairs)
// are a second step, so everything else can run while the certificates are still being fetched.
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import type { OvfEnv } from './ovf-env.ts';
import { configureSshd } from './sshd-apply.ts';
import { deployKeyPair, deployPublicKey, type Owner } from './ssh-keys.ts';
import { grantSudo } from '../os/sudoers.ts';
import { ensureUser, ensureUserWithPassword } from '../os/user.ts';

/** User, password, sudoers, sshd_config and the keys given inline; returns the owner for the keys that follow. */
export async function applyAccount(config: Config, env: OvfEnv): Promise<Owner> {
  const hasPassword = env.password !== null && env.password !== '';
  // sshd's settings do not depend on the user: its checks (sshd -V, a throw-away key, sshd -t) run beside useradd.
  // Both end before this returns, and the user's failure is the one reported when both fail, as in sequence.
  const [userResult, sshdResult] = await Promise.allSettled([
    (async () => {
      const user = hasPassword ? await ensureUserWithPassword(config, env.username, env.password!) : (await ensureUser(env.username)).user;
      await grantSudo(config, user.name, hasPassword);
      return user;
    })(),
    configureSshd(config, env.disableSshPasswordAuthentication),
  ]);
  if (userResult.status === 'rejected') throw userResult.reason;
  if (sshdResult.status === 'rejected') throw sshdResult.reason;
  const user = userResult.value;
  const owner: Owner = { name: user.name, uid: user.uid, gid: user.gid, home: user.home };
  for (const k of env.publicKeys) if (k.value) await deployPublicKey(config, owner, k);
  return owner;
}

/** Keys by certificate thumbprint and key pairs: after the certificates are in Lib.Dir. */
export async function applyCertificateKeys(config: Config, env: OvfEnv, owner: Owner): Promise<void> {
  for (const k of env.publicKeys) if (!k.value && k.fingerprint) await deployPublicKey(config, owner, k);
  for (const p of env.keyPairs) await deployKeyPair(config, owner, p);
  const n = env.publicKeys.length + env.keyPairs.length;
  if (n > 0) log.info(`${n} SSH key${n > 1 ? 's' : ''} deployed for ${owner.name}`);
}
