// The fabric emulator's in-process CMS EnvelopedData (test/fabric/cms.ts), used for the Certificates document (§2.8)
// and RemoteAccess passwords (§2.9): the real openssl and the agent's own decryptor both open it, with either cipher
// and either way of naming the recipient, and it has the shape `openssl cms -encrypt` gives the same input.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { decryptEnvelopedData } from '../../src/crypto/cms.ts';
import { CertificateRequestError, certificateData, certificateFile, encryptRemoteAccessPasswords } from '../fabric/certificates.ts';
import { openssl, opensslSync } from '../fabric/openssl.ts';

const dir = mkdtempSync(join(tmpdir(), 'emulator-cms-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Recipient {
  name: string;
  key: string;
  cert: string;
  keyPem: string;
  certPem: string;
  /** the openssl cms -encrypt option that names the recipient the same way */
  keyid: string[];
}

/** A self-signed RSA certificate with a subject key identifier (openssl's default), or with none. */
function recipient(name: string, ski: boolean): Recipient {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const noSki = ski ? [] : ['-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none'];
  opensslSync([
    'req',
    '-x509',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-days',
    '30',
    '-newkey',
    'rsa:2048',
    '-keyout',
    key,
    '-out',
    cert,
    ...noSki,
  ]);
  const certPem = readFileSync(cert, 'utf8');
  const text = opensslSync(['x509', '-noout', '-text', '-in', cert]).toString();
  assert.equal(text.includes('Subject Key Identifier'), ski, `${name}: the certificate must ${ski ? '' : 'not '}have a SKI`);
  return { name, key, cert, keyPem: readFileSync(key, 'utf8'), certPem, keyid: ski ? ['-keyid'] : [] };
}

/** `openssl asn1parse` of a DER blob without the random values (key, IV, encrypted key): tags, lengths, OIDs. */
async function outline(der: Buffer): Promise<string> {
  return (await openssl(['asn1parse', '-inform', 'DER'], der)).toString().replace(/\[HEX DUMP\]:[0-9A-F]+/g, '[HEX DUMP]');
}

const decryptWithOpenssl = (der: Buffer, r: Recipient) =>
  openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-inkey', r.key, '-recip', r.cert], der);

const RECIPIENTS = [recipient('with-ski', true), recipient('without-ski', false)];
const CIPHERS = [
  { name: 'AES128_CBC', option: '-aes128', oid: 'aes-128-cbc' },
  { name: 'DES_EDE3_CBC', option: '-des3', oid: 'des-ede3-cbc' },
];

describe('the emulator encrypts CMS EnvelopedData in-process', () => {
  for (const r of RECIPIENTS) {
    for (const c of CIPHERS) {
      it(`a CertificateFile to a certificate ${r.name}, ${c.name}: openssl and the agent decrypt it, shaped like openssl's`, async () => {
        // 3001 bytes: a partial last block; 48: whole blocks, so a whole block of padding
        for (const size of [3001, 48]) {
          const plain = randomBytes(size);
          const xml = await certificateFile(plain, r.certPem, c.name, '7');
          assert.match(xml, /<Incarnation>7<\/Incarnation>/);
          const der = Buffer.from(certificateData(xml)!, 'base64');
          assert.deepEqual(await decryptWithOpenssl(der, r), plain);
          assert.deepEqual(decryptEnvelopedData(der, r.keyPem, r.certPem), plain);
          const reference = await openssl(['cms', '-encrypt', '-binary', c.option, '-outform', 'DER', '-recip', r.cert, ...r.keyid], plain);
          const mine = await outline(der);
          assert.equal(mine, await outline(reference));
          assert.match(mine, new RegExp(`OBJECT +:${c.oid}\\n`));
          // EnvelopedData and KeyTransRecipientInfo version: 2 when named by SKI, 0 by issuer and serial
          assert.equal((mine.match(r.keyid.length ? /INTEGER +:02\n/g : /INTEGER +:00\n/g) ?? []).length, 2);
        }
      });
    }
  }

  it('RemoteAccess passwords: UTF-16LE in CMS that openssl opens, AES128_CBC when no cipher is named', async () => {
    const r = RECIPIENTS[1]!;
    const xml = await encryptRemoteAccessPasswords(
      '<Users><User><Password>a&amp;b</Password></User><User><Password>Pä$$</Password></User></Users>',
      r.certPem,
      undefined,
    );
    const b64 = [...xml.matchAll(/<Password>([^<]+)<\/Password>/g)].map((m) => m[1]!);
    assert.equal(b64.length, 2);
    const plain = await Promise.all(b64.map((b) => decryptWithOpenssl(Buffer.from(b, 'base64'), r)));
    assert.deepEqual(
      plain.map((p) => p.toString('utf16le')),
      ['a&b', 'Pä$$'],
    );
    assert.match(await outline(Buffer.from(b64[0]!, 'base64')), /OBJECT +:aes-128-cbc\n/);
  });

  it('refuses a cipher name it does not know, or none for a Certificates request, with one sentence', async () => {
    const pem = RECIPIENTS[0]!.certPem;
    for (const name of ['RC4', 'toString', undefined]) {
      await assert.rejects(certificateFile(Buffer.from('x'), pem, name, '1'), (e: Error) => {
        assert.ok(e instanceof CertificateRequestError);
        assert.equal(e.message, `unsupported x-ms-cipher-name "${name ?? ''}" (AES128_CBC or DES_EDE3_CBC)`);
        return true;
      });
    }
    await assert.rejects(encryptRemoteAccessPasswords('<Password>x</Password>', pem, 'AES256_CBC'), CertificateRequestError);
  });
});
