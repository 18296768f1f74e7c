import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCertificates, type CertificatesDecoder } from '../../../src/crypto/index.ts';
import { installCertificates } from '../../../src/fabric/certificates.ts';
import { log, type LogSink } from '../../../src/log/logger.ts';
import { FIXTURES, certificatesData, makeKeyPair, openssl, tempDir } from './crypto-helpers.ts';

const wire = {
  transportKeyPem: readFileSync(join(FIXTURES, 'wire/trans_prv'), 'utf8'),
  transportCertPem: readFileSync(join(FIXTURES, 'wire/trans_cert'), 'utf8'),
};
const hibernate = {
  transportKeyPem: readFileSync(join(FIXTURES, 'hibernate/TransportPrivate.pem'), 'utf8'),
  transportCertPem: readFileSync(join(FIXTURES, 'hibernate/TransportCert.pem'), 'utf8'),
};

// wire/certs.xml holds two certificates. F6ABAA61…7FA9 (with its key) is the one wire/ext_conf.xml names;
// the other thumbprint was obtained once with the openssl CLI, independently of this code:
//   openssl cms -decrypt -inform DER -in <Data, base64-decoded> -inkey wire/trans_prv -recip wire/trans_cert -out c.pfx
//   openssl pkcs12 -in c.pfx -password pass: -nodes | openssl x509 -noout -fingerprint -sha1   (for each certificate)
const WIRE_EXPECTED = [
  { thumbprint: 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9', hasPrivateKey: true },
  { thumbprint: '8979F1AC8C4215827BF3B5A403E6137B504D02A4', hasPrivateKey: false },
];

function captureWarnings(): string[] {
  const lines: string[] = [];
  const sink: LogSink = { write: (l) => lines.push(l) };
  log.addSink(sink, 'WARNING');
  return lines;
}

test('wire/certs.xml decrypts into the thumbprints the fixtures name, with files and modes on disk', async () => {
  const libDir = tempDir();
  const summary = await installCertificates({
    dataBase64: certificatesData(join(FIXTURES, 'wire/certs.xml')),
    ...wire,
    libDir,
    opensslPath: null,
  });
  assert.deepEqual(summary, WIRE_EXPECTED);
  assert.match(readFileSync(join(FIXTURES, 'wire/ext_conf.xml'), 'utf8'), new RegExp(WIRE_EXPECTED[0]!.thumbprint));
  assert.deepEqual(readdirSync(libDir).sort(), [
    '8979F1AC8C4215827BF3B5A403E6137B504D02A4.crt',
    'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.crt',
    'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.prv',
  ]);
  for (const { thumbprint } of WIRE_EXPECTED) {
    const crt = join(libDir, `${thumbprint}.crt`);
    assert.equal(statSync(crt).mode & 0o777, 0o644);
    assert.equal(new X509Certificate(readFileSync(crt)).fingerprint.replace(/:/g, ''), thumbprint);
    // openssl reads the file and computes the same thumbprint
    assert.equal(
      openssl(['x509', '-in', crt, '-noout', '-fingerprint', '-sha1']).toString().trim().split('=')[1]!.replace(/:/g, ''),
      thumbprint,
    );
  }
  const prv = join(libDir, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.prv');
  assert.equal(statSync(prv).mode & 0o777, 0o600);
  assert.match(readFileSync(prv, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  const cert = new X509Certificate(readFileSync(join(libDir, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.crt')));
  assert.equal(cert.checkPrivateKey(createPrivateKey(readFileSync(prv))), true);
});

test('installing again over read-only (0400) files replaces them', async () => {
  const libDir = tempDir();
  const opts = { dataBase64: certificatesData(join(FIXTURES, 'wire/certs.xml')), ...wire, libDir, opensslPath: null };
  await installCertificates(opts);
  for (const f of readdirSync(libDir)) writeFileSync(join(libDir, f), 'stale', { mode: 0o400 });
  assert.deepEqual(await installCertificates(opts), WIRE_EXPECTED);
  assert.match(readFileSync(join(libDir, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.crt'), 'utf8'), /BEGIN CERTIFICATE/);
});

for (const gs of ['goal_state_1', 'goal_state_2']) {
  test(`hibernate/${gs}: an RSAES-OAEP + AES-128 envelope gives the recorded Certificates.json`, async () => {
    const libDir = tempDir();
    const summary = await installCertificates({
      dataBase64: certificatesData(join(FIXTURES, `hibernate/${gs}/Certificates.xml`)),
      ...hibernate,
      libDir,
      opensslPath: null,
    });
    assert.deepEqual(summary, JSON.parse(readFileSync(join(FIXTURES, `hibernate/${gs}/Certificates.json`), 'utf8')));
    for (const s of summary) assert.equal(existsSync(join(libDir, `${s.thumbprint}.prv`)), s.hasPrivateKey);
  });
}

test('incorrect-certs.xml (addressed to another transport certificate) fails with a clear crypto error', async () => {
  const libDir = tempDir();
  await assert.rejects(
    installCertificates({ dataBase64: certificatesData(join(FIXTURES, 'wire/incorrect-certs.xml')), ...wire, libDir, opensslPath: null }),
    (e: Error & { kind?: string }) =>
      e.kind === 'crypto' &&
      /^the tenant certificates could not be decrypted: the CMS envelope could not be decrypted with the transport key/.test(e.message),
  );
  assert.deepEqual(readdirSync(libDir), []);
});

test('Data that is not base64 is refused', async () => {
  await assert.rejects(
    installCertificates({ dataBase64: '<oops>', ...wire, libDir: tempDir(), opensslPath: null }),
    /the Certificates Data is not base64 text/,
  );
});

const failing: CertificatesDecoder = () => {
  throw new Error('simulated in-process failure');
};

test('when the in-process decoder fails, the openssl CLI fallback produces the same result, with a warning', async () => {
  const warnings = captureWarnings();
  const libDir = tempDir();
  const openssl = ['/usr/bin/openssl', '/bin/openssl'].find((p) => existsSync(p))!;
  const summary = await installCertificates({
    dataBase64: certificatesData(join(FIXTURES, 'wire/certs.xml')),
    ...wire,
    libDir,
    opensslPath: openssl,
    decode: failing,
  });
  log.reset();
  assert.deepEqual(summary, WIRE_EXPECTED);
  assert.ok(
    warnings.some((l) => / WARNING .*in-process failed \(simulated in-process failure\); falling back to .*openssl/.test(l)),
    warnings.join('\n'),
  );
  assert.equal(statSync(join(libDir, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.prv')).mode & 0o777, 0o600);
  // The fallback's private working directory is gone.
  assert.equal(readdirSync(libDir).filter((f) => f.startsWith('.')).length, 0);
});

test('without the in-process decoder or an openssl binary, a crypto error names the cause', async () => {
  const base = { dataBase64: certificatesData(join(FIXTURES, 'wire/certs.xml')), ...wire, libDir: tempDir(), decode: failing };
  for (const opensslPath of [null, '/nonexistent/openssl']) {
    await assert.rejects(
      installCertificates({ ...base, opensslPath }),
      (e: Error & { kind?: string }) =>
        e.kind === 'crypto' && e.message === 'the tenant certificates could not be decrypted: simulated in-process failure',
    );
  }
  // The fallback failing too (incorrect-certs.xml) is reported as an openssl failure.
  await assert.rejects(
    installCertificates({
      ...base,
      dataBase64: certificatesData(join(FIXTURES, 'wire/incorrect-certs.xml')),
      opensslPath: '/usr/bin/openssl',
    }),
    (e: Error & { kind?: string }) => e.kind === 'crypto' && /^openssl could not decrypt the certificates/.test(e.message),
  );
});

test('keys are matched to certificates by public key, not by order; orphan keys are not installed', async () => {
  const dir = tempDir();
  const transport = makeKeyPair(dir, 'transport');
  const a = makeKeyPair(dir, 'a');
  const b = makeKeyPair(dir, 'b');
  const orphan = makeKeyPair(dir, 'orphan');
  // A PFX with certificate a and its key, plus certificate b without one.
  const pfx = join(dir, 'bundle.pfx');
  openssl(['pkcs12', '-export', '-passout', 'pass:', '-inkey', a.keyPath, '-in', a.certPath, '-certfile', b.certPath, '-out', pfx]);
  const cms = openssl(['cms', '-encrypt', '-binary', '-aes128', '-in', pfx, '-outform', 'DER', '-recip', transport.certPath]);
  const warnings = captureWarnings();
  const libDir = tempDir();
  const summary = await installCertificates({
    dataBase64: cms.toString('base64'),
    transportKeyPem: transport.keyPem,
    transportCertPem: transport.certPem,
    libDir,
    opensslPath: null,
    // The real decoder, with an orphan key put first: the first key must not go to the first certificate.
    decode: (c, k, t) => {
      const r = decodeCertificates(c, k, t);
      return { certificates: r.certificates, privateKeys: [createPrivateKey(orphan.keyPem), ...r.privateKeys] };
    },
  });
  log.reset();
  const tp = (p: string) => new X509Certificate(readFileSync(p)).fingerprint.replace(/:/g, '');
  const byTp = Object.fromEntries(summary.map((s) => [s.thumbprint, s.hasPrivateKey]));
  assert.deepEqual(byTp, { [tp(a.certPath)]: true, [tp(b.certPath)]: false });
  assert.equal(readdirSync(libDir).filter((f) => f.endsWith('.prv')).length, 1);
  const installed = readFileSync(join(libDir, `${tp(a.certPath)}.prv`), 'utf8');
  assert.equal(new X509Certificate(a.certPem).checkPrivateKey(createPrivateKey(installed)), true);
  assert.ok(
    warnings.some((l) => /1 private key\(s\) .* match no certificate/.test(l)),
    warnings.join('\n'),
  );
});

test('a PFX whose MAC does not verify is read anyway, with a warning, as the Python agent does (decided by the error code)', () => {
  const dir = tempDir();
  const transport = makeKeyPair(dir, 'transport');
  const a = makeKeyPair(dir, 'a');
  const pfxPath = join(dir, 'a.pfx');
  openssl(['pkcs12', '-export', '-passout', 'pass:', '-macalg', 'sha1', '-inkey', a.keyPath, '-in', a.certPath, '-out', pfxPath]);
  const pfx = readFileSync(pfxPath);
  // The MacData ends the PFX: DigestInfo (the SHA-1 AlgorithmIdentifier, then the digest as 04 14 + 20 bytes), the
  // salt and the iteration count. A flipped digest byte fails the MAC check and leaves the content intact.
  const sha1Alg = Buffer.from('06052b0e03021a0500', 'hex');
  const digestAt = pfx.lastIndexOf(sha1Alg) + sha1Alg.length;
  assert.deepEqual([...pfx.subarray(digestAt, digestAt + 2)], [0x04, 0x14]);
  pfx[digestAt + 2]! ^= 0xff;
  writeFileSync(pfxPath, pfx);
  const cms = openssl(['cms', '-encrypt', '-binary', '-aes128', '-in', pfxPath, '-outform', 'DER', '-recip', transport.certPath]);
  const warnings = captureWarnings();
  const r = decodeCertificates(cms, transport.keyPem, transport.certPem);
  log.reset();
  assert.equal(r.certificates.length, 1);
  assert.equal(r.privateKeys.length, 1);
  assert.ok(
    warnings.some((l) => /the PFX integrity check failed for the tenant certificates; reading them without it/.test(l)),
    warnings.join('\n'),
  );
});
