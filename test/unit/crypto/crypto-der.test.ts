import { test } from 'node:test';
import assert from 'node:assert/strict';
import { children, encode, octets, oid, parse, readElement, smallInt, tlv } from '../../../src/crypto/der.ts';
import { rc2DecryptEcb } from '../../../src/crypto/rc2.ts';
import { pkcs12Kdf, passwordBytes } from '../../../src/crypto/pbe.ts';
import { openssl } from './crypto-helpers.ts';

test('OIDs and integers round-trip through the writer and reader', () => {
  for (const id of ['1.2.840.113549.1.7.3', '2.5.29.14', '2.16.840.1.101.3.4.1.42', '0.9.2342.19200300.100.1.25', '2.999.1']) {
    assert.equal(oid(parse(encode.oid(id))), id);
  }
  assert.deepEqual(encode.integer(0), Buffer.from([2, 1, 0]));
  assert.deepEqual(encode.integer(128), Buffer.from([2, 2, 0, 128]));
  assert.deepEqual(encode.integer(Buffer.from([0, 0, 0x7f])), Buffer.from([2, 1, 0x7f]));
  assert.equal(smallInt(parse(encode.integer(2000)), 'n'), 2000);
});

test('the writer agrees with openssl asn1parse on long lengths and times', () => {
  const big = encode.sequence(
    encode.octetString(Buffer.alloc(300, 7)),
    encode.time(new Date(Date.UTC(2030, 0, 2, 3, 4, 5))),
    encode.time(new Date(Date.UTC(2051, 0, 1))),
  );
  const text = openssl(['asn1parse', '-inform', 'DER'], big).toString();
  assert.match(text, /OCTET STRING\s+\[HEX DUMP\]:0707/);
  assert.match(text, /UTCTIME\s+:300102030405Z/);
  assert.match(text, /GENERALIZEDTIME\s+:20510101000000Z/);
  const node = parse(big);
  assert.equal(children(node).length, 3);
  assert.equal(octets(children(node)[0]!).length, 300);
});

test('indefinite lengths and constructed OCTET STRINGs (BER) are read', () => {
  // SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "cd" }, NULL }
  const ber = Buffer.from('3080' + '2480' + '04026162' + '04026364' + '0000' + '0500' + '0000', 'hex');
  const node = parse(ber);
  const [os, nul] = children(node);
  assert.equal(octets(os!).toString(), 'abcd');
  assert.equal(nul!.tag, 0x05);
  assert.equal(node.raw.length, ber.length);
});

test('malformed DER gives a one-sentence crypto error', () => {
  const cases: Array<[string, RegExp]> = [
    ['3005020101', /longer than its enclosing data/],
    ['3080020101', /no end-of-contents marker/],
    ['300a3080020101', /longer than its enclosing data/],
    ['02', /truncated/],
    ['020201', /longer than its enclosing data/],
    ['050000', /bytes follow the top-level element/],
    ['0480', /indefinite length on a primitive/],
  ];
  for (const [hex, re] of cases) {
    assert.throws(
      () => parse(Buffer.from(hex, 'hex')),
      (e: Error & { kind?: string }) => e.kind === 'crypto' && re.test(e.message),
      hex,
    );
  }
  // A child that overruns its parent is caught when the children are read.
  assert.throws(() => children(readElement(tlv(0x30, Buffer.from('0203', 'hex'))).node), /enclosing data|truncated/);
});

test('RC2 decrypts the RFC 2268 section 5 test vectors', () => {
  const vectors: Array<[string, number, string, string]> = [
    // key, effective bits, plaintext, ciphertext
    ['0000000000000000', 63, '0000000000000000', 'ebb773f993278eff'],
    ['ffffffffffffffff', 64, 'ffffffffffffffff', '278b27e42e2f0d49'],
    ['3000000000000000', 64, '1000000000000001', '30649edf9be7d2c2'],
    ['88', 64, '0000000000000000', '61a8a244adacccf0'],
    ['88bca90e90875a', 64, '0000000000000000', '6ccf4308974c267f'],
    ['88bca90e90875a7f0f79c384627bafb2', 64, '0000000000000000', '1a807d272bbe5db1'],
    ['88bca90e90875a7f0f79c384627bafb2', 128, '0000000000000000', '2269552ab0f85ca6'],
  ];
  for (const [key, bits, pt, ct] of vectors) {
    assert.equal(rc2DecryptEcb(Buffer.from(key, 'hex'), bits, Buffer.from(ct, 'hex')).toString('hex'), pt, key);
  }
  assert.throws(() => rc2DecryptEcb(Buffer.alloc(0), 40, Buffer.alloc(8)), /1 to 128 bytes/);
});

test('RC2-CBC agrees with openssl enc (legacy provider) when the host has it', (t) => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const iv = Buffer.from('fedcba9876543210', 'hex');
  let ct: Buffer;
  try {
    ct = openssl(
      ['enc', '-rc2-cbc', '-provider', 'legacy', '-provider', 'default', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-nopad'],
      Buffer.alloc(32, 0x41),
    );
  } catch {
    t.diagnostic('openssl legacy provider missing: covered by the RFC vectors and the RC2 PFX tests only');
    return;
  }
  // 128-bit key, effective 128 bits: CBC = ECB(c_i) xor c_{i-1}
  const ecb = rc2DecryptEcb(key, 128, ct);
  for (let i = 0; i < 32; i++) ecb[i]! ^= i < 8 ? iv[i]! : ct[i - 8]!;
  assert.deepEqual(ecb, Buffer.alloc(32, 0x41));
});

test('the PKCS#12 key derivation encodes the password as a terminated BMPString', () => {
  assert.deepEqual(passwordBytes('', 'bmp'), Buffer.from([0, 0]));
  assert.deepEqual(passwordBytes('ab', 'bmp'), Buffer.from([0, 0x61, 0, 0x62, 0, 0]));
  assert.equal(passwordBytes('', 'none').length, 0);
  // Different IDs and salts give different material; n bytes exactly, beyond one hash block too.
  const salt = Buffer.from('0102030405060708', 'hex');
  const k1 = pkcs12Kdf('sha1', passwordBytes('', 'bmp'), salt, 1, 2, 24);
  const k2 = pkcs12Kdf('sha1', passwordBytes('', 'bmp'), salt, 2, 2, 24);
  assert.equal(k1.length, 24);
  assert.notDeepEqual(k1, k2);
  assert.equal(pkcs12Kdf('sha256', Buffer.alloc(0), salt, 3, 1, 70).length, 70);
  assert.throws(() => pkcs12Kdf('md4', Buffer.alloc(0), salt, 1, 1, 8), /does not support the hash md4/);
});
