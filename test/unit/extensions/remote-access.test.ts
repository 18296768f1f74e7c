// RemoteAccess JIT accounts (docs/protocol.md §2.9): password decryption (CMS to the transport certificate, UTF-16
// inside), the account commands on a fake passwd database (never the host's useradd/userdel), and the rules about
// which accounts are JIT accounts (GECOS JIT_Account) and may be created, updated or deleted.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cryptWithSalt, generateTransportCertificate, type TransportCertificate } from '../../../src/crypto/index.ts';
import {
  accountExpiryDate,
  decryptJitPassword,
  JIT_COMMENT,
  listJitUsers,
  RemoteAccessHandler,
  redactRemoteAccess,
} from '../../../src/extensions/remote-access.ts';
import { encryptRemoteAccessPasswords } from '../../fabric/certificates.ts';
import { openssl } from '../../fabric/openssl.ts';
import { configOn, fakeTools, rejectsWith, tempRoot } from '../provisioning/prov-helpers.ts';

const FUTURE = 'Fri, 01 Jan 2100 00:00:00 GMT';
const PAST = 'Mon, 01 Jan 2024 00:00:00 GMT';

// A fake passwd database: getent lists or looks up, useradd appends (uid 1001, 1002, …, GECOS from -c), userdel drops.
const root = tempRoot();
const db = join(root, 'passwd');
const tools = fakeTools({
  getent: `if [ $# -eq 1 ]; then cat '${db}'; else grep "^$2:" '${db}' || exit 2; fi`,
  useradd: `c=; n=$2; while [ $# -gt 0 ]; do [ "$1" = -c ] && c=$2; shift; done; [ "$n" = brokenjit ] && exit 9; echo "$n:x:$((1000 + $(wc -l < '${db}'))):100:$c:/home/$n:/bin/sh" >> '${db}'`,
  usermod: `[ "$(eval echo \\$$#)" = failpass ] && exit 3; true`,
  userdel: `sed -i "/^$3:/d" '${db}'`,
  visudo: 'cat > /dev/null',
});
const loginDefs = join(root, 'login.defs');
writeFileSync(loginDefs, 'UID_MIN 1000\n');
// users are looked up in the fake database itself, as on a machine whose NSS reads files only
writeFileSync(join(root, 'nsswitch.conf'), 'passwd: files\n');
const passwd = { nsswitchConf: join(root, 'nsswitch.conf'), passwdFile: db };
const config = configOn(root);
const sudoers = join(root, 'sudoers.d', 'waagent');

function seed(lines: string[]): void {
  writeFileSync(db, lines.map((l) => `${l}\n`).join(''));
}
const names = () =>
  readFileSync(db, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[0]);
const calls = (tool: string) => tools.calls().filter((c) => c.startsWith(`${tool} `));

function doc(users: Array<{ name: string; password?: string; expiration: string }>): string {
  const u = users
    .map(
      (x) =>
        `<User><Name>${x.name}</Name>${x.password !== undefined ? `<Password>${x.password}</Password>` : ''}<Expiration>${x.expiration}</Expiration><Groups><GroupName>Administrators</GroupName></Groups></User>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><RemoteAccess><Version>1</Version><Incarnation>2</Incarnation><Users>${u}</Users></RemoteAccess>`;
}

describe('JIT passwords (§2.9)', () => {
  let t: TransportCertificate;
  before(() => {
    t = generateTransportCertificate();
  });

  it('decrypts what the emulator encrypts to the transport certificate, with either cipher', async () => {
    for (const cipher of ['AES128_CBC', 'DES_EDE3_CBC']) {
      const xml = await encryptRemoteAccessPasswords(
        doc([{ name: 'u', password: 'Pä$$w0rd &amp; more', expiration: FUTURE }]),
        t.certPem,
        cipher,
      );
      const b64 = /<Password>([^<]+)<\/Password>/.exec(xml)![1]!;
      assert.notEqual(b64, 'Pä$$w0rd &amp; more');
      assert.equal(decryptJitPassword(b64, t.keyPem, t.certPem), 'Pä$$w0rd & more');
    }
  });

  it('honours a UTF-16 byte-order mark and drops trailing NULs', async () => {
    const recip = join(tempRoot(), 'cert.pem');
    writeFileSync(recip, t.certPem);
    const enc = async (plain: Buffer) =>
      (await openssl(['cms', '-encrypt', '-binary', '-aes128', '-outform', 'DER', '-recip', recip], plain)).toString('base64');
    const be = Buffer.from('secret', 'utf16le').swap16();
    assert.equal(decryptJitPassword(await enc(Buffer.concat([Buffer.from([0xfe, 0xff]), be])), t.keyPem), 'secret');
    assert.equal(
      decryptJitPassword(await enc(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('secret\0', 'utf16le')])), t.keyPem),
      'secret',
    );
    assert.throws(() => decryptJitPassword('', t.keyPem), /empty or not base64/);
  });

  it('fails with one sentence for another key or a payload that is not UTF-16', async () => {
    const xml = await encryptRemoteAccessPasswords(doc([{ name: 'u', password: 'x', expiration: FUTURE }]), t.certPem, 'AES128_CBC');
    const b64 = /<Password>([^<]+)<\/Password>/.exec(xml)![1]!;
    const other = generateTransportCertificate();
    await rejectsWith(
      () => decryptJitPassword(b64, other.keyPem, other.certPem),
      'crypto',
      /could not be decrypted with the transport key/,
    );
    const recip = join(tempRoot(), 'cert.pem');
    writeFileSync(recip, t.certPem);
    const odd = (await openssl(['cms', '-encrypt', '-binary', '-aes128', '-outform', 'DER', '-recip', recip], Buffer.from('abc'))).toString(
      'base64',
    );
    await rejectsWith(() => decryptJitPassword(odd, t.keyPem), 'crypto', /is 3 bytes, not UTF-16 text/);
  });

  it('expires accounts the day after the expiration, and keeps passwords out of the history copy', () => {
    assert.equal(accountExpiryDate(new Date('2024-01-01T00:00:00Z')), '2024-01-02');
    assert.equal(accountExpiryDate(new Date('2024-02-28T23:59:59Z')), '2024-02-29');
    assert.equal(redactRemoteAccess('<User><Password>QUJD</Password></User>'), '<User><Password>***REDACTED***</Password></User>');
  });
});

describe('JIT accounts (§2.9)', () => {
  let t: TransportCertificate;
  let handler: RemoteAccessHandler;
  const encrypted = async (users: Array<{ name: string; password?: string; expiration: string }>) =>
    encryptRemoteAccessPasswords(doc(users), t.certPem, 'AES128_CBC');
  before(() => {
    t = generateTransportCertificate();
    handler = new RemoteAccessHandler(config, {
      transportKeyPem: t.keyPem,
      transportCertPem: t.certPem,
      loginDefs,
      passwd,
      now: () => new Date('2025-06-01T00:00:00Z'),
    });
  });

  it('lists only accounts whose comment is exactly JIT_Account', async () => {
    seed([
      'root:x:0:0:root:/root:/bin/bash',
      'alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash',
      `jit1:x:1001:100:${JIT_COMMENT}:/home/jit1:/bin/sh`,
      'jit2:x:1002:100:JIT_Account2:/home/jit2:/bin/sh',
    ]);
    assert.deepEqual(await listJitUsers(), ['jit1']);
  });

  it('creates listed users, deletes expired and unlisted JIT users, and touches no other account', async () => {
    seed([
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:JIT_Account:/usr/sbin:/usr/sbin/nologin',
      'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
      `oldjit:x:1001:100:${JIT_COMMENT}:/home/oldjit:/bin/sh`,
      `gonejit:x:1002:100:${JIT_COMMENT}:/home/gonejit:/bin/sh`,
    ]);
    mkdirSync(dirname(sudoers), { recursive: true });
    writeFileSync(sudoers, 'alice ALL=(ALL) ALL\ngonejit ALL=(ALL) ALL\n');
    const before = tools.calls().length;
    await handler.apply(
      await encrypted([
        { name: 'newjit', password: 'N3w pass', expiration: FUTURE },
        { name: 'oldjit', password: 'old', expiration: PAST },
        { name: 'alice', password: 'stolen', expiration: FUTURE },
        { name: 'notyet', password: 'x', expiration: PAST },
      ]),
    );
    const ran = tools
      .calls()
      .slice(before)
      .filter((c) => /^(useradd|usermod|userdel) /.test(c));
    assert.equal(ran[0], 'useradd -m newjit -e 2100-01-02 -c JIT_Account');
    assert.match(ran[1]!, /^usermod -p \$6\$[^ ]+ newjit$/);
    const hash = ran[1]!.split(' ')[2]!;
    assert.equal(cryptWithSalt('N3w pass', hash), hash, 'the hash is of the decrypted password');
    assert.equal(ran[2], 'userdel -f -r oldjit');
    assert.equal(ran[3], 'userdel -f -r gonejit');
    assert.equal(ran.length, 4, `alice, notyet and daemon are not touched: ${ran.join(' | ')}`);
    assert.deepEqual(names(), ['root', 'daemon', 'alice', 'newjit']);
    assert.equal(readFileSync(sudoers, 'utf8'), 'alice ALL=(ALL) ALL\nnewjit ALL=(ALL) ALL\n');
  });

  it('a listed JIT user that exists gets its expiration and password set again', async () => {
    const before = tools.calls().length;
    await handler.apply(await encrypted([{ name: 'newjit', password: 'changed', expiration: 'Sat, 01 Jan 2099 10:00:00 GMT' }]));
    const ran = tools
      .calls()
      .slice(before)
      .filter((c) => /^(useradd|usermod|userdel) /.test(c));
    assert.equal(ran[0], 'usermod -e 2099-01-02 newjit');
    assert.match(ran[1]!, /^usermod -p \$6\$[^ ]+ newjit$/);
    assert.equal(cryptWithSalt('changed', ran[1]!.split(' ')[2]!), ran[1]!.split(' ')[2]!);
    assert.equal(ran.length, 2);
  });

  it('a user whose setup fails half-way is removed again; bad entries are skipped with the others still done', async () => {
    seed(['root:x:0:0:root:/root:/bin/bash']);
    const before = tools.calls().length;
    await handler.apply(
      await encrypted([
        { name: 'failpass', password: 'p', expiration: FUTURE },
        { name: 'brokenjit', password: 'p', expiration: FUTURE },
        { name: 'nodate', password: 'p', expiration: 'someday' },
        { name: 'nopass', expiration: FUTURE },
        { name: '-rf', password: 'p', expiration: FUTURE },
        { name: 'okjit', password: 'p', expiration: FUTURE },
      ]),
    );
    const ran = tools
      .calls()
      .slice(before)
      .filter((c) => /^(useradd|userdel) /.test(c));
    assert.deepEqual(ran, [
      'useradd -m failpass -e 2100-01-02 -c JIT_Account',
      'userdel -f -r failpass',
      'useradd -m brokenjit -e 2100-01-02 -c JIT_Account',
      'useradd -m okjit -e 2100-01-02 -c JIT_Account',
    ]);
    assert.deepEqual(names(), ['root', 'okjit']);
  });

  it('without a RemoteAccess document every JIT user goes, and the users are not listed again until a document comes', async () => {
    seed([
      'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
      `j1:x:1001:100:${JIT_COMMENT}:/home/j1:/bin/sh`,
      `j2:x:1002:100:${JIT_COMMENT}:/home/j2:/bin/sh`,
    ]);
    const fresh = new RemoteAccessHandler(config, { transportKeyPem: t.keyPem, transportCertPem: t.certPem, loginDefs, passwd });
    await fresh.apply(null);
    assert.deepEqual(names(), ['alice']);
    const listings = calls('getent').filter((c) => c === 'getent passwd').length;
    seed(['alice:x:1000:1000:Alice:/home/alice:/bin/bash', `j3:x:1003:100:${JIT_COMMENT}:/home/j3:/bin/sh`]);
    await fresh.apply(null);
    assert.equal(calls('getent').filter((c) => c === 'getent passwd').length, listings);
    assert.deepEqual(names(), ['alice', 'j3']);
  });

  it('a document that does not parse is an error naming it', async () => {
    await rejectsWith(
      handler.apply('<RemoteAccess><Users><User><Password>x</Password></User></Users></RemoteAccess>'),
      'protocol',
      /the remote access document has no Name element/,
    );
  });
});
