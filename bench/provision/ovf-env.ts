// The ovf-env.xml both agents provision from in the benchmark: the layout of the recorded fixture
// tests/data/ovf-env-2.xml (docs/protocol.md §4.2), with work that is real on both sides: a user with a password,
// an inline SSH key, a key by certificate thumbprint, a key pair, custom data. The thumbprint is that of the
// certificate WITH a private key in the emulator's default Certificates document (tests/data/wire/certs.xml),
// which the agents receive encrypted to their own transport certificate.

import { ovfEnvXml } from '../../test/helpers/provisioning.ts';

export const CERT_THUMBPRINT = 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9';

export interface BenchOvfEnv {
  hostName: string;
  userName: string;
  password: string;
  /** an OpenSSH public key line, e.g. "ssh-ed25519 AAAA... comment" */
  publicKey: string;
  /** the custom data as the platform sends it (base64) */
  customData: string;
}

/** Built by the tests' ovf-env writer (test/helpers/provisioning.ts), so both measure the same document layout. */
export function benchOvfEnv(o: BenchOvfEnv): string {
  const home = `$HOME/${o.userName}/.ssh`;
  return ovfEnvXml({
    hostname: o.hostName,
    user: o.userName,
    password: o.password,
    disablePasswordAuth: false,
    publicKeys: [
      { fingerprint: CERT_THUMBPRINT, path: `${home}/authorized_keys`, value: o.publicKey },
      { fingerprint: CERT_THUMBPRINT, path: `${home}/authorized_keys` },
    ],
    keyPairs: [{ fingerprint: CERT_THUMBPRINT, path: `${home}/id_rsa` }],
    customData: Buffer.from(o.customData, 'base64').toString('utf8'),
  });
}
