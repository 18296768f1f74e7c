// RemoteAccess JIT accounts (docs/protocol.md §2.9, §7.1 loop step 7): on a new incarnation, the users the
// RemoteAccess document lists are created (`useradd -m <name> -e <expiration + 1 day> -c JIT_Account`), given their
// password (CMS-encrypted to the transport certificate, UTF-16 inside) and a sudo rule; JIT users that expired or are
// no longer listed are deleted. JIT users are recognised ONLY by their GECOS comment `JIT_Account`: a listed name
// that belongs to any other account is left alone (upstream would reset its password), and so is every account
// without that comment. A listed JIT user that still exists gets its password and expiration set again, so a change
// of either takes effect (upstream leaves it as it was).
import type { Config } from '../config/index.ts';
import { decryptEnvelopedData } from '../crypto/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { parseRemoteAccess, type RemoteAccessUser } from '../fabric/documents/index.ts';
import { log } from '../log/logger.ts';
import { registerSecret } from '../log/redact.ts';
import { run } from '../os/exec.ts';
import { grantSudo, revokeSudo } from '../os/sudoers.ts';
import { lookupUser, readUidMin, setUserPassword, validateUserName, type PasswdSources, type PasswordOptions } from '../os/user.ts';

export const JIT_COMMENT = 'JIT_Account';

export interface RemoteAccessOptions extends PasswordOptions {
  /** The transport key pair the passwords are encrypted to (§2.8). */
  transportKeyPem: string;
  transportCertPem: string;
  now?: () => Date;
  /** where a user is looked up (default /etc/nsswitch.conf and /etc/passwd, see lookupUser) */
  passwd?: PasswdSources;
}

/** §2.9: base64 → CMS EnvelopedData decrypted with the transport key → UTF-16 text (BOM honoured, else little-endian). */
export function decryptJitPassword(base64: string, keyPem: string, certPem?: string): string {
  const der = Buffer.from(base64.replace(/\s+/g, ''), 'base64');
  if (der.length === 0) throw new AgentError('crypto', 'the JIT account password is empty or not base64');
  const plain = decryptEnvelopedData(der, keyPem, certPem);
  if (plain.length % 2 !== 0)
    throw new AgentError('crypto', `the decrypted JIT account password is ${plain.length} bytes, not UTF-16 text`);
  let text: string;
  if (plain[0] === 0xfe && plain[1] === 0xff) text = Buffer.from(plain.subarray(2)).swap16().toString('utf16le');
  else text = plain.subarray(plain[0] === 0xff && plain[1] === 0xfe ? 2 : 0).toString('utf16le');
  return text.replace(/\0+$/, '');
}

/** The `useradd -e` date: the day after the expiration, YYYY-MM-DD (UTC), as upstream. */
export function accountExpiryDate(expiration: Date): string {
  return new Date(expiration.getTime() + 86_400_000).toISOString().slice(0, 10);
}

/** The redacted document for the goal-state history: no password, even encrypted. */
export function redactRemoteAccess(xml: string): string {
  return xml.replace(/(<Password\b[^>]*>)[^<]*(<\/Password>)/gi, '$1***REDACTED***$2');
}

/** Names of the accounts whose GECOS field is exactly JIT_Account (every passwd entry NSS knows). */
export async function listJitUsers(): Promise<string[]> {
  const r = await run(['getent', 'passwd'], { allowFailure: true, timeoutMs: 30_000, maxOutput: 64 * 1024 * 1024 });
  if (r.code !== 0) throw new AgentError('provisioning', `cannot list the users: getent passwd exited with code ${r.code}`);
  return r.stdout
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7 && f[4] === JIT_COMMENT)
    .map((f) => f[0]!);
}

export class RemoteAccessHandler {
  readonly #config: Config;
  readonly #o: RemoteAccessOptions;
  /** Without a document, existing JIT users are looked for until one clean-up succeeded (upstream). */
  #checkExisting = true;

  constructor(config: Config, opts: RemoteAccessOptions) {
    this.#config = config;
    this.#o = opts;
  }

  /**
   * Applies the RemoteAccess document of a new incarnation (null: the goal state names none, so every JIT user
   * goes). Errors are per user and logged; a document that does not parse throws.
   */
  async apply(xml: string | null): Promise<void> {
    if (xml === null) return this.#removeAll();
    const doc = parseRemoteAccess(xml);
    this.#checkExisting = true;
    log.info(`processing ${doc.users.length} remote access user(s) of the goal state`);
    const existing = new Set(await listJitUsers());
    const listed = new Set(doc.users.map((u) => u.name));
    const now = (this.#o.now ?? (() => new Date()))();
    for (const u of doc.users) {
      try {
        await this.#applyUser(u, existing.has(u.name), now);
      } catch (e) {
        log.error(`error processing the remote access user ${u.name}: ${describeError(e)}`);
      }
    }
    for (const name of existing) {
      if (listed.has(name)) continue;
      try {
        log.info(`the remote access user ${name} is no longer in the goal state`);
        await this.#remove(name);
      } catch (e) {
        log.error(`error removing the remote access user ${name}: ${describeError(e)}`);
      }
    }
  }

  async #applyUser(u: RemoteAccessUser, isJit: boolean, now: Date): Promise<void> {
    validateUserName(u.name);
    if (u.expiration === null) {
      throw new AgentError('protocol', `the expiration "${u.expirationText ?? ''}" is not a date in the format of §2.9`, { user: u.name });
    }
    const expired = now.getTime() >= u.expiration.getTime();
    if (expired) {
      if (isJit) {
        log.info(`the remote access user ${u.name} expired`);
        await this.#remove(u.name);
      }
      return;
    }
    if (u.encryptedPassword === null) throw new AgentError('protocol', 'the user has no Password', { user: u.name });
    const password = decryptJitPassword(u.encryptedPassword, this.#o.transportKeyPem, this.#o.transportCertPem);
    registerSecret(password);
    const expiry = accountExpiryDate(u.expiration);
    if (isJit) {
      log.info(`updating the remote access user ${u.name} (expires ${expiry})`);
      const user = await lookupUser(u.name, this.#o.passwd);
      if (!user) throw new AgentError('provisioning', `the JIT user ${u.name} disappeared while being updated`, { user: u.name });
      await run(['usermod', '-e', expiry, u.name], { timeoutMs: 30_000 });
      await setUserPassword(this.#config, user, password, this.#o);
      await grantSudo(this.#config, u.name, true);
      return;
    }
    if ((await lookupUser(u.name, this.#o.passwd)) !== null) {
      throw new AgentError(
        'provisioning',
        `an account named ${u.name} exists and is not a JIT account (comment ${JIT_COMMENT}); it is left alone`,
        { user: u.name },
      );
    }
    log.info(`adding the remote access user ${u.name} (expires ${expiry})`);
    await run(['useradd', '-m', u.name, '-e', expiry, '-c', JIT_COMMENT], { timeoutMs: 30_000 });
    try {
      const user = await lookupUser(u.name, this.#o.passwd);
      if (!user) throw new AgentError('provisioning', `useradd reported success but the user ${u.name} does not exist`, { user: u.name });
      await setUserPassword(this.#config, user, password, this.#o);
      await grantSudo(this.#config, u.name, true);
    } catch (e) {
      // Half-made accounts do not stay (upstream removes the user too).
      await this.#remove(u.name).catch((e2: unknown) => log.warn(`cannot remove the half-made user ${u.name}: ${describeError(e2)}`));
      throw e;
    }
  }

  async #removeAll(): Promise<void> {
    if (!this.#checkExisting) return;
    let failed = false;
    for (const name of await listJitUsers()) {
      try {
        log.info(`the goal state has no remote access users; removing ${name}`);
        await this.#remove(name);
      } catch (e) {
        failed = true;
        log.error(`error removing the remote access user ${name}: ${describeError(e)}`);
      }
    }
    if (!failed) this.#checkExisting = false;
  }

  /** userdel -f -r, and the sudo rule; never a system account (uid below UID_MIN). */
  async #remove(name: string): Promise<void> {
    const user = await lookupUser(name, this.#o.passwd);
    if (user) {
      const uidMin = readUidMin(this.#o.loginDefs);
      if (user.uid < uidMin) {
        throw new AgentError('provisioning', `refusing to delete the system user ${name} (uid ${user.uid} is below UID_MIN ${uidMin})`, {
          user: name,
        });
      }
      log.info(`removing the remote access user ${name}`);
      await run(['userdel', '-f', '-r', name], { timeoutMs: 60_000 });
    }
    revokeSudo(this.#config, name);
  }
}
