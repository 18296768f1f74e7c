// The openssl CLI path of docs/protocol.md §2.8 steps 4-5, kept only as a fallback for the day the
// in-process decoder meets a file it cannot read. Works in a private (0700) directory under Lib.Dir.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readPemBundle, type Pkcs12Contents } from '../crypto/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { run } from '../os/exec.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

const TIMEOUT_MS = 60_000;

export async function decodeWithOpenssl(
  openssl: string,
  cms: Buffer,
  keyPem: string,
  certPem: string,
  workDir: string,
): Promise<Pkcs12Contents> {
  const dir = mkdtempSync(join(workDir, '.certificates-'));
  try {
    const p7m = join(dir, 'Certificates.p7m');
    const key = join(dir, 'TransportPrivate.pem');
    const cert = join(dir, 'TransportCert.pem');
    const pfx = join(dir, 'Certificates.pfx');
    writeFileAtomic(p7m, cms, { mode: 0o600 });
    writeFileAtomic(key, keyPem, { mode: 0o600 });
    writeFileAtomic(cert, certPem, { mode: 0o600 });
    await run([openssl, 'cms', '-decrypt', '-inform', 'DER', '-in', p7m, '-inkey', key, '-recip', cert, '-out', pfx], {
      timeoutMs: TIMEOUT_MS,
    });
    // As the Python agent: first without the MAC check, then with it (older openssl lacks -nomacver).
    const base = [openssl, 'pkcs12', '-nodes', '-password', 'pass:', '-in', pfx];
    const first = await run([...base, '-nomacver'], { timeoutMs: TIMEOUT_MS, allowFailure: true });
    const out = first.code === 0 ? first : await run(base, { timeoutMs: TIMEOUT_MS });
    const contents = readPemBundle(out.stdout);
    if (contents.certificates.length === 0 && contents.privateKeys.length === 0 && readFileSync(pfx).length > 0) {
      throw new AgentError('crypto', 'openssl pkcs12 produced no certificates or keys');
    }
    return contents;
  } catch (e) {
    throw new AgentError('crypto', `openssl could not decrypt the certificates: ${describeError(e)}`, { openssl }, e);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
