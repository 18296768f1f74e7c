import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cryptPassword, cryptWithSalt, opensshPublicKey, sshFingerprint } from '../../../src/crypto/index.ts';
import { FIXTURES, makeKeyPair, openssl, tempDir } from './crypto-helpers.ts';

const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

function keygen(args: string[]): string {
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

test('PEM keys and certificates convert to the OpenSSH form ssh-keygen gives', {
  skip: !hasSshKeygen && 'ssh-keygen is not installed',
}, () => {
  const dir = tempDir();
  const kp = makeKeyPair(dir, 'ssh');
  const pub = join(dir, 'ssh.pub.pem');
  openssl(['pkey', '-in', kp.keyPath, '-pubout', '-out', pub]);
  const expected = keygen(['-i', '-m', 'PKCS8', '-f', pub]);
  assert.equal(opensshPublicKey(kp.certPem), expected);
  assert.equal(opensshPublicKey(readFileSync(pub, 'utf8')), expected);
  assert.equal(opensshPublicKey(kp.keyPem), expected);

  const pairs: Array<[string, ReturnType<typeof generateKeyPairSync>]> = [
    ['ecdsa-sha2-nistp256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['ecdsa-sha2-nistp384', generateKeyPairSync('ec', { namedCurve: 'P-384' })],
    ['ecdsa-sha2-nistp521', generateKeyPairSync('ec', { namedCurve: 'P-521' })],
  ];
  for (const [type, { publicKey, privateKey }] of pairs) {
    const line = opensshPublicKey(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    assert.ok(line.startsWith(`${type} `), line);
    // ssh-keygen derives the same public key from the private key file.
    const keyFile = join(dir, `${type}.key`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    assert.equal(keygen(['-y', '-f', keyFile]).split(' ').slice(0, 2).join(' '), line);
  }
  // Ed25519: ssh-keygen makes the key; its 32 raw bytes end the blob; wrapped as SPKI they convert back.
  const edFile = join(dir, 'id_ed25519');
  keygen(['-q', '-t', 'ed25519', '-N', '', '-f', edFile]);
  const edLine = readFileSync(edFile + '.pub', 'utf8')
    .split(' ')
    .slice(0, 2)
    .join(' ');
  const raw = Buffer.from(edLine.split(' ')[1]!, 'base64').subarray(-32);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
  assert.equal(opensshPublicKey(spki.export({ type: 'spki', format: 'pem' }).toString()), edLine);
});

test('the SHA256 fingerprint matches ssh-keygen -l', { skip: !hasSshKeygen && 'ssh-keygen is not installed' }, () => {
  const dir = tempDir();
  const file = join(dir, 'id_rsa.pub');
  for (const pem of [
    makeKeyPair(dir, 'fp').certPem,
    generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  ]) {
    const line = opensshPublicKey(pem) + ' user@host';
    writeFileSync(file, line + '\n');
    const fp = keygen(['-l', '-E', 'sha256', '-f', file]).split(' ')[1];
    assert.equal(sshFingerprint(line), fp);
  }
});

test('bad SSH input gives clear errors', () => {
  assert.throws(() => opensshPublicKey('nonsense'), /not a PEM certificate or key/);
  const dsa = generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  assert.throws(() => opensshPublicKey(dsa), /a dsa key has no OpenSSH public key form/);
  assert.throws(() => sshFingerprint('hello world'), /not an OpenSSH public key line/);
  assert.throws(
    () => sshFingerprint('ssh-rsa ' + Buffer.from('\0\0\0\x0bssh-ed25519').toString('base64')),
    /does not match its type ssh-rsa/,
  );
});

const ALPHABET = /^[a-zA-Z0-9./]+$/;

test('crypt hashes of the recorded passwords (UTF-8, non-ASCII) agree with openssl passwd', () => {
  const passwords = readFileSync(join(FIXTURES, '../common/osutil/test_passwords.txt'), 'utf8').split('\n').filter(Boolean);
  assert.ok(passwords.length >= 3);
  for (const pw of passwords) {
    for (const id of ['1', '5', '6'] as const) {
      const hash = cryptPassword(pw, id, id === '1' ? 8 : 10);
      const m = /^\$(\d)\$([^$]+)\$/.exec(hash)!;
      assert.equal(m[1], id);
      assert.match(m[2]!, ALPHABET);
      assert.equal(m[2]!.length, id === '1' ? 8 : 10);
      assert.equal(
        hash,
        openssl(['passwd', `-${id}`, '-salt', m[2]!, pw])
          .toString()
          .trim(),
        `${id} ${pw}`,
      );
      assert.equal(cryptWithSalt(pw, hash), hash, 'verification with the whole hash as the setting');
      assert.notEqual(cryptWithSalt(pw + 'x', hash), hash);
    }
  }
});

test('random passwords and salts agree with openssl passwd, including rounds=', () => {
  for (let i = 0; i < 12; i++) {
    const pw = randomBytes(1 + ((i * 7) % 40))
      .toString('base64')
      .slice(0, 1 + ((i * 5) % 70));
    const id = (['1', '5', '6'] as const)[i % 3]!;
    const hash = cryptPassword(pw, id, 1 + (i % (id === '1' ? 8 : 16)));
    const salt = /^\$\d\$([^$]+)\$/.exec(hash)![1]!;
    assert.equal(
      hash,
      openssl(['passwd', `-${id}`, '-salt', salt, pw])
        .toString()
        .trim(),
      `${id} ${pw}`,
    );
  }
  for (const id of ['5', '6']) {
    const setting = `$${id}$rounds=1234$saltsalt`;
    assert.equal(
      cryptWithSalt('pass word', setting),
      openssl(['passwd', `-${id}`, '-salt', 'rounds=1234$saltsalt', 'pass word'])
        .toString()
        .trim(),
    );
  }
  // rounds below the minimum are raised to 1000, as glibc does
  assert.match(cryptWithSalt('x', '$6$rounds=10$ab'), /^\$6\$rounds=1000\$ab\$/);
  // the salt is cut to 16 characters (8 for MD5)
  assert.match(cryptWithSalt('x', '$6$0123456789abcdefXYZ'), /^\$6\$0123456789abcdef\$/);
  assert.match(cryptWithSalt('x', '$1$0123456789'), /^\$1\$01234567\$/);
});

test('bad crypt input gives clear errors', () => {
  assert.throws(() => cryptPassword('pw', '6', 0), /must be 1 to 16 characters long, not 0/);
  assert.throws(() => cryptPassword('pw', '1', 9), /must be 1 to 8 characters long, not 9/);
  assert.throws(() => cryptPassword('pw', '2' as '1', 4), /crypt id 2 is not 1, 5 or 6/);
  assert.throws(() => cryptWithSalt('pw', '$2b$10$abc'), /does not start with \$1\$, \$5\$ or \$6\$/);
  assert.throws(() => cryptWithSalt('pw', '$1$rounds=5000$abc'), /MD5 crypt scheme does not take a rounds= parameter/);
});
