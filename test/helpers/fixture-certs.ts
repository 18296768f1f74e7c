// The tenant certificates inside the recorded certs.xml, found independently of the agent's code: the openssl CLI
// decrypts the CMS with the recorded transport key, node:crypto computes thumbprints and matches the keys.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './paths.ts';

const WIRE = join(FIXTURES, 'tests', 'data', 'wire');

export interface FixtureCert {
  thumbprint: string;
  hasPrivateKey: boolean;
}

export interface FixtureCertWithKey extends FixtureCert {
  certPem: string;
  /** PKCS#8 PEM of the matching private key, when the package holds one */
  keyPem: string | null;
}

export function fixtureCertificates(): FixtureCertWithKey[] {
  const dir = mkdtempSync(join(tmpdir(), 'gs-expect-'));
  try {
    const data = /<Data>([\s\S]*?)<\/Data>/.exec(readFileSync(join(WIRE, 'certs.xml'), 'utf8'))![1]!;
    writeFileSync(join(dir, 'c.der'), Buffer.from(data.replace(/\s+/g, ''), 'base64'));
    const run = (args: string[]) => {
      const r = spawnSync('openssl', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `openssl ${args[0]}: ${r.stderr}`);
    };
    run([
      'cms',
      '-decrypt',
      '-inform',
      'DER',
      '-in',
      join(dir, 'c.der'),
      '-inkey',
      join(WIRE, 'trans_prv'),
      '-recip',
      join(WIRE, 'trans_cert'),
      '-out',
      join(dir, 'c.pfx'),
    ]);
    run(['pkcs12', '-nodes', '-password', 'pass:', '-in', join(dir, 'c.pfx'), '-out', join(dir, 'c.pem')]);
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const keys = (pem.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? []).map((k) =>
      createPrivateKey(k),
    );
    assert.ok(certs.length > 0, 'the fixture holds certificates');
    return certs
      .map((c) => {
        const x = new X509Certificate(c);
        const key = keys.find((k) => x.checkPrivateKey(k)) ?? null;
        return {
          thumbprint: x.fingerprint.replace(/:/g, '').toUpperCase(),
          hasPrivateKey: key !== null,
          certPem: c + '\n',
          keyPem: key ? key.export({ type: 'pkcs8', format: 'pem' }).toString() : null,
        };
      })
      .sort((a, b) => a.thumbprint.localeCompare(b.thumbprint));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function expectedCertificates(): FixtureCert[] {
  return fixtureCertificates().map(({ thumbprint, hasPrivateKey }) => ({ thumbprint, hasPrivateKey }));
}
