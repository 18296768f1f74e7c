// The tenant certificates pipeline of docs/protocol.md §2.8 (steps 4-7) without HTTP and XML:
// CMS-decrypt the Certificates Data with the transport key, read the PKCS#12 inside (both in src/crypto/),
// and write <Lib.Dir>/<THUMBPRINT>.crt (0644) and <THUMBPRINT>.prv (0600), keys matched to certificates by public key.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCertificates, toPem, thumbprint, type CertificatesDecoder, type Pkcs12Contents } from '../crypto/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomicIfChangedAsync } from '../os/atomic-file.ts';
import { decodeWithOpenssl } from './openssl-fallback.ts';

export interface CertificateSummary {
  thumbprint: string;
  hasPrivateKey: boolean;
}

export interface InstallCertificatesOptions {
  /** The base64 text of the Certificates document's Data element (line breaks allowed). */
  dataBase64: string;
  transportKeyPem: string;
  transportCertPem: string;
  libDir: string;
  /** OS.OpensslPath: the fallback when the in-process decoder fails; null for none. */
  opensslPath: string | null;
  /** The in-process decoder (replaceable so that tests can exercise the fallback). */
  decode?: CertificatesDecoder;
}

function decodeBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!compact || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new AgentError('crypto', 'the Certificates Data is not base64 text');
  return Buffer.from(compact, 'base64');
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
}

async function decode(opts: InstallCertificatesOptions, cms: Buffer): Promise<Pkcs12Contents> {
  try {
    return (opts.decode ?? decodeCertificates)(cms, opts.transportKeyPem, opts.transportCertPem);
  } catch (e) {
    const why = describeError(e);
    if (!opts.opensslPath || !existsSync(opts.opensslPath)) {
      throw new AgentError('crypto', `the tenant certificates could not be decrypted: ${why}`, { opensslPath: opts.opensslPath }, e);
    }
    log.warn(`decrypting the tenant certificates in-process failed (${why}); falling back to ${opts.opensslPath}`);
    return decodeWithOpenssl(opts.opensslPath, cms, opts.transportKeyPem, opts.transportCertPem, opts.libDir);
  }
}

export async function installCertificates(opts: InstallCertificatesOptions): Promise<CertificateSummary[]> {
  const { certificates, privateKeys } = await decode(opts, decodeBase64(opts.dataBase64));
  const keys = privateKeys.map((k) => ({ key: k, spki: spkiOf(k), used: false }));
  const summary: CertificateSummary[] = [];
  const writes: Promise<boolean>[] = []; // side by side on the thread pool, all done before this returns
  for (const der of certificates) {
    const tp = thumbprint(der);
    if (summary.some((s) => s.thumbprint === tp)) continue;
    let spki: Buffer;
    try {
      spki = spkiOf(new X509Certificate(der).publicKey);
    } catch (e) {
      throw new AgentError('crypto', `a tenant certificate is not a valid X.509 certificate: ${describeError(e)}`, {}, e);
    }
    // the same certificates come with every goal state: unchanged files are not rewritten (two fsyncs each)
    writes.push(writeFileAtomicIfChangedAsync(join(opts.libDir, `${tp}.crt`), toPem('CERTIFICATE', der), { mode: 0o644 }));
    const match = keys.find((k) => k.spki.equals(spki));
    if (match) {
      match.used = true;
      writes.push(
        writeFileAtomicIfChangedAsync(join(opts.libDir, `${tp}.prv`), match.key.export({ type: 'pkcs8', format: 'pem' }).toString(), {
          mode: 0o600,
        }),
      );
    }
    summary.push({ thumbprint: tp, hasPrivateKey: !!match });
  }
  const written = await Promise.allSettled(writes);
  for (const w of written) if (w.status === 'rejected') throw w.reason;
  const orphans = keys.filter((k) => !k.used).length;
  if (orphans) log.warn(`${orphans} private key(s) in the tenant certificates match no certificate and were not installed`);
  log.info(
    `installed ${summary.length} tenant certificate(s): ${summary.map((s) => s.thumbprint + (s.hasPrivateKey ? ' (with key)' : '')).join(', ')}`,
  );
  return summary;
}
