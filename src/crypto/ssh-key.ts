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

/** OpenSSH's `SHA256:<base64 without padding>` fingerprint of a public key line (`type base64 [comment]`). */
export function sshFingerprint(opensshLine: string): string {
  const fields = opensshLine.trim().split(/\s+/);
  const i = fields.findIndex((f) => /^(ssh-|ecdsa-|sk-)/.test(f));
  const data = i >= 0 ? fields[i + 1] : undefined;
  if (!data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new AgentError('crypto', 'the text is not an OpenSSH public key line');
  const blob = Buffer.from(data, 'base64');
  if (blob.length < 4 || blob.readUInt32BE(0) + 4 > blob.length || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() !== fields[i]) {
    throw new AgentError('crypto', `the OpenSSH key data does not match its type ${fields[i]}`);
  }
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
