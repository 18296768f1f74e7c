// Public keys in OpenSSH form (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4) and their SHA256 fingerprints:
// keys provisioned from certificates need PKCS#8/SPKI → OpenSSH conversion (docs/protocol.md §10 item 32).
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { AgentError, describeError } from '../util/errors.ts';

function sshString(b: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An SSH mpint from unsigned big-endian bytes: no leading zeros, one zero octet if the top bit is set. */
function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  const v = b.subarray(i);
  return sshString(v.length && v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

const CURVES: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

function publicKeyOf(pem: string): KeyObject {
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey;
    return createPublicKey(pem);
  } catch (e) {
    throw new AgentError('crypto', `the text is not a PEM certificate or key: ${describeError(e)}`, {}, e);
  }
}

/** `ssh-rsa AAAA…` (or ecdsa-sha2-nistp*, ssh-ed25519) for a PEM certificate, public key or private key. */
export function opensshPublicKey(keyOrCertPem: string): string {
  const key = publicKeyOf(keyOrCertPem);
  if (!['rsa', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? '')) {
    throw new AgentError('crypto', `a ${key.asymmetricKeyType} key has no OpenSSH public key form supported here`);
  }
  const jwk = key.export({ format: 'jwk' });
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');
  let type: string;
  let blob: Buffer;
  if (key.asymmetricKeyType === 'rsa') {
    type = 'ssh-rsa';
    blob = Buffer.concat([sshString(Buffer.from(type)), mpint(b64(jwk.e)), mpint(b64(jwk.n))]);
  } else if (key.asymmetricKeyType === 'ec' && jwk.crv && CURVES[jwk.crv]) {
    const curve = CURVES[jwk.crv]!;
    type = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(curve)), sshString(point)]);
  } else if (key.asymmetricKeyType === 'ed25519') {
    type = 'ssh-ed25519';
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(b64(jwk.x))]);
  } else {
    throw new AgentError('crypto', `an EC key on the curve ${jwk.crv} has no OpenSSH public key form supported here`);
  }
  return `${type} ${blob.toString('base64')}`;
}

/** The public key types OpenSSH accepts in authorized_keys (sshd(8) AUTHORIZED_KEYS FILE FORMAT). */
export const OPENSSH_KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-rsa',
  'ssh-dss',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** The key blob of base64 `data`, which must decode to a key whose first field names `type` (RFC 4253 6.6). */
function keyBlob(type: string, data: string | undefined): Buffer {
  if (!data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new AgentError('crypto', `the ${type} key data is not base64`);
  const blob = Buffer.from(data, 'base64');
  if (blob.length < 4 || blob.readUInt32BE(0) + 4 > blob.length || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() !== type) {
    throw new AgentError('crypto', `the OpenSSH key data does not match its type ${type}`);
  }
  return blob;
}

export interface OpensshPublicKey {
  readonly type: string;
  readonly blob: Buffer;
  /** The free-text comment after the key, '' when there is none. */
  readonly comment: string;
}

/**
 * Exactly one public key line `type base64 [comment]`, without authorized_keys options: a known type, base64 that
 * decodes to a key of that same type, no control characters. What the platform gives as a user's key is checked
 * with this before it is written, so nothing but a key can reach authorized_keys.
 */
export function parseOpensshPublicKey(line: string): OpensshPublicKey {
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) throw new AgentError('crypto', 'the key is more than one line or contains control characters');
  const m = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line.trim());
  if (!m) throw new AgentError('crypto', 'the text is not an OpenSSH public key line (type, key data, optional comment)');
  const type = m[1]!;
  if (!OPENSSH_KEY_TYPES.has(type))
    throw new AgentError('crypto', `${JSON.stringify(type.slice(0, 40))} is not an OpenSSH public key type`);
  return { type, blob: keyBlob(type, m[2]), comment: (m[3] ?? '').trim() };
}

/** OpenSSH's `SHA256:<base64 without padding>` fingerprint of a public key line (`[options] type base64 [comment]`). */
export function sshFingerprint(opensshLine: string): string {
  const fields = opensshLine.trim().split(/\s+/);
  const i = fields.findIndex((f) => /^(ssh-|ecdsa-|sk-)/.test(f));
  if (i < 0) throw new AgentError('crypto', 'the text is not an OpenSSH public key line');
  const blob = keyBlob(fields[i]!, fields[i + 1]);
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
