// The transport certificate files in Lib.Dir (docs/protocol.md §1.2, §2.8, §10 item 39): TransportCert.pem and
// TransportPrivate.pem (0600). The daemon makes a fresh pair on every start; -goal-state and the worker reuse the
// pair on disk, so certificate requests in flight are never encrypted to a key that no longer exists.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export const TRANSPORT_CERT_FILE = 'TransportCert.pem';
export const TRANSPORT_KEY_FILE = 'TransportPrivate.pem';

export interface TransportCertPair {
  certPem: string;
  keyPem: string;
}

export interface TransportCertFiles extends TransportCertPair {
  certPath: string;
  keyPath: string;
  /** true when this call generated the pair. */
  generated: boolean;
}

export type GenerateTransportCert = () => TransportCertPair | Promise<TransportCertPair>;

function paths(libDir: string): { certPath: string; keyPath: string } {
  return { certPath: `${libDir}/${TRANSPORT_CERT_FILE}`, keyPath: `${libDir}/${TRANSPORT_KEY_FILE}` };
}

/** Generates a new pair and writes it (key first, 0600; certificate 0644). */
export async function regenerateTransportCert(libDir: string, generate: GenerateTransportCert): Promise<TransportCertFiles> {
  const pair = await generate();
  const p = paths(libDir);
  writeFileAtomic(p.keyPath, pair.keyPem, { mode: 0o600, mkdir: true });
  writeFileAtomic(p.certPath, pair.certPem, { mode: 0o644, mkdir: true });
  log.info(`generated a new transport certificate in ${libDir}`);
  return { ...pair, ...p, generated: true };
}

/** The pair on disk when both files are there and belong together; otherwise a new pair. */
export async function loadOrCreateTransportCert(libDir: string, generate: GenerateTransportCert): Promise<TransportCertFiles> {
  const p = paths(libDir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(p.certPath, 'utf8');
    keyPem = readFileSync(p.keyPath, 'utf8');
  } catch {
    return regenerateTransportCert(libDir, generate);
  }
  try {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the key does not match the certificate');
  } catch (e) {
    log.warn(`the transport certificate in ${libDir} is unusable (${describeError(e)}); generating a new one`);
    return regenerateTransportCert(libDir, generate);
  }
  return { certPem, keyPem, ...p, generated: false };
}
