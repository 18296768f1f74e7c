import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { log } from '../../../src/log/logger.ts';
import { run } from '../../../src/os/exec.ts';
import {
  ensureUser,
  ensureUserWithPassword,
  filesAnswerFor,
  findPasswdEntry,
  hashPassword,
  lookupUser,
  parseUidMin,
  passwdSources,
  type PasswdSources,
  readUidMin,
  setUserPassword,
  validateUserName,
} from '../../../src/os/user.ts';
import { fakeTools, rejectsWith, tempRoot } from '../provisioning/prov-helpers.ts';

// Fake account tools on a fake passwd database: useradd adds the line getent prints (never the host's useradd).
const root = tempRoot();
const db = join(root, 'passwd');
// homes under a temporary root: ensureUser makes a missing home, and must never touch the host's /home
const HOME = join(root, 'home');
mkdirSync(HOME);
writeFileSync(db, 'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
const tools = fakeTools({
  getent: `grep "^$2:" '${db}' || exit 2`,
  // the name is the last argument (useradd -m [-p HASH] NAME)
  useradd: `for n; do :; done; [ "$n" = broken ] && { echo "useradd: cannot lock /etc/passwd; try again later." >&2; exit 1; }; mkdir -p '${HOME}'/$n; echo "$n:x:1001:1001::${HOME}/$n:/bin/sh" >> '${db}'`,
  usermod: '',
});
// NSS with a source beyond files (LDAP): the lookups go through getent
writeFileSync(join(root, 'nsswitch-ldap.conf'), 'passwd: files ldap\n');
const VIA_GETENT: PasswdSources = { nsswitchConf: join(root, 'nsswitch-ldap.conf'), passwdFile: db };
// NSS with files and systemd only, no homed, no userdb drop-ins: the lookups read the passwd file itself
writeFileSync(join(root, 'nsswitch.conf'), '# Debian\npasswd:         files systemd\ngroup:          files systemd\n');
mkdirSync(join(root, 'userdb'));
const VIA_FILES: PasswdSources = {
  nsswitchConf: join(root, 'nsswitch.conf'),
  passwdFile: db,
  homedSocket: join(root, 'no-homed'),
  userdbDirs: [join(root, 'userdb')],
};
const getentCalls = () => tools.calls().filter((c) => c.startsWith('getent')).length;

describe('the user account (§4.4 step 8)', () => {
  it('creates the user with useradd -m once', async () => {
    const a = await ensureUser('alice', undefined, VIA_GETENT);
    assert.deepEqual(a, { user: { name: 'alice', uid: 1001, gid: 1001, home: `${HOME}/alice` }, created: true });
    assert.deepEqual(
      tools.calls().filter((c) => !c.startsWith('useradd')),
      ['getent passwd alice', 'getent passwd alice'],
    );
    const b = await ensureUser('alice', undefined, VIA_GETENT);
    assert.equal(b.created, false);
    assert.equal(
      tools
        .calls()
        .filter((c) => c.startsWith('useradd'))
        .join(),
      'useradd -m alice',
    );
    assert.equal(await lookupUser('nobody-here', VIA_GETENT), null);
  });

  it('an existing user whose home is missing (useradd killed part-way) gets it, 0750 and owned by the user', async () => {
    writeFileSync(db, `${readFileSync(db, 'utf8')}carol:x:1002:1003::${HOME}/carol:/bin/sh\n`);
    const c = await ensureUser('carol', undefined, VIA_FILES);
    assert.equal(c.created, false);
    const st = statSync(`${HOME}/carol`);
    assert.ok(st.isDirectory());
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o750, 1002, 1003]);
  });

  it('names the user when useradd fails, and refuses invalid names before running anything', async () => {
    await rejectsWith(
      ensureUser('broken', undefined, VIA_FILES),
      'provisioning',
      /cannot create the user broken: .*cannot lock \/etc\/passwd/,
    );
    for (const bad of ['-rf', 'a b', 'x'.repeat(40), '', 'a:b'])
      await rejectsWith(ensureUser(bad), 'provisioning', /is not a valid Linux user name/);
    assert.equal(validateUserName('azure.user_1'), 'azure.user_1');
  });

  it('reads UID_MIN from login.defs, 100 without one', () => {
    const root = tempRoot();
    writeFileSync(join(root, 'login.defs'), '#UID_MIN 5\nSYS_UID_MIN 201\nUID_MIN\t\t\t 1000\n');
    assert.equal(readUidMin(join(root, 'login.defs')), 1000);
    assert.equal(parseUidMin('SUB_UID_MIN 100000\n'), null);
    assert.equal(readUidMin(join(root, 'missing')), 100);
  });

  it('sets the password hash with usermod -p and never logs the password', async () => {
    const lines: string[] = [];
    log.addSink({ write: (l) => lines.push(l) }, 'VERBOSE');
    try {
      await setUserPassword(Config.defaults(), { name: 'alice', uid: 1001, gid: 1001, home: '/home/alice' }, 'Secret pass 1');
      const call = tools.calls().find((c) => c.startsWith('usermod'))!;
      const hash = call.split(' ')[2]!;
      assert.match(hash, /^\$6\$[A-Za-z0-9./]{10}\$/);
      assert.equal(call, `usermod -p ${hash} alice`);
      // the system's implementation agrees with the hash
      const salt = hash.split('$')[2]!;
      assert.equal((await run(['openssl', 'passwd', '-6', '-salt', salt, 'Secret pass 1'])).stdout.trim(), hash);
      log.info('a message that quotes Secret pass 1 by mistake');
      assert.ok(lines.length > 0 && lines.every((l) => !l.includes('Secret pass 1')), lines.join('\n'));
    } finally {
      log.reset();
    }
  });

  it('a new user gets its password hash from useradd -p (one command, no usermod); an existing one through usermod -p', async () => {
    const before = tools.calls().length;
    const dave = await ensureUserWithPassword(Config.defaults(), 'dave', 'Dave pass 2', VIA_FILES);
    assert.equal(dave.name, 'dave');
    const calls = tools.calls().slice(before);
    const add = calls.filter((c) => c.startsWith('useradd') || c.startsWith('usermod'));
    assert.equal(add.length, 1, calls.join('\n'));
    const hash = add[0]!.split(' ')[3]!;
    assert.equal(add[0], `useradd -m -p ${hash} dave`);
    assert.equal((await run(['openssl', 'passwd', '-6', '-salt', hash.split('$')[2]!, 'Dave pass 2'])).stdout.trim(), hash);
    assert.ok(
      calls.every((c) => !c.includes('Dave pass 2')),
      'the password is never in argv',
    );

    const mid = tools.calls().length;
    await ensureUserWithPassword(Config.defaults(), 'dave', 'Dave pass 3', VIA_FILES);
    const again = tools.calls().slice(mid);
    assert.equal(again.filter((c) => c.startsWith('useradd')).length, 0, again.join('\n'));
    assert.match(again.filter((c) => c.startsWith('usermod')).join(), /^usermod -p \$6\$\S+ dave$/);
  });

  it('refuses a system user unless AllowResetSysUser', async () => {
    const root = tempRoot();
    const defs = join(root, 'login.defs');
    writeFileSync(defs, 'UID_MIN 1000\n');
    const daemon = (await lookupUser('daemon', VIA_GETENT))!;
    await rejectsWith(
      setUserPassword(Config.defaults(), daemon, 'pw-pw-pw', { loginDefs: defs }),
      'provisioning',
      /refusing to set the password of the system user daemon \(uid 1 is below UID_MIN 1000; Provisioning.AllowResetSysUser is off\)/,
    );
    const before = tools.calls().length;
    await setUserPassword(Config.from({ 'Provisioning.AllowResetSysUser': true }), daemon, 'pw-pw-pw', { loginDefs: defs });
    assert.match(tools.calls().slice(before).join(), /^usermod -p \S+ daemon$/);
  });

  it('hashes with the configured crypt id and salt length, and rejects bad settings', async () => {
    assert.match(
      hashPassword(Config.from({ 'Provisioning.PasswordCryptId': '5', 'Provisioning.PasswordCryptSaltLength': 16 }), 'pw'),
      /^\$5\$[A-Za-z0-9./]{16}\$/,
    );
    const md5 = hashPassword(Config.from({ 'Provisioning.PasswordCryptId': '1', 'Provisioning.PasswordCryptSaltLength': 8 }), 'pw');
    assert.equal((await run(['openssl', 'passwd', '-1', '-salt', md5.split('$')[2]!, 'pw'])).stdout.trim(), md5);
    await rejectsWith(
      () => hashPassword(Config.from({ 'Provisioning.PasswordCryptId': '2a' }), 'pw'),
      'config',
      /PasswordCryptId=2a is not 6/,
    );
    await rejectsWith(
      () => hashPassword(Config.from({ 'Provisioning.PasswordCryptSaltLength': 0 }), 'pw'),
      'config',
      /SaltLength=0 is not between 1 and 16/,
    );
  });
});

describe('looking up the user: /etc/passwd itself when NSS reads only files (issue 14), else getent', () => {
  it('reads the sources of the passwd line of nsswitch.conf', () => {
    assert.deepEqual(passwdSources('# x\npasswd:         files systemd\ngroup: files\n'), ['files', 'systemd']);
    assert.deepEqual(passwdSources('passwd:files # a comment\n'), ['files']);
    assert.deepEqual(passwdSources('passwd: compat\n#passwd: files\n'), ['compat']);
    assert.deepEqual(passwdSources('passwd: files [NOTFOUND=return] systemd\n'), ['files', '[NOTFOUND=return]', 'systemd']);
    assert.equal(passwdSources('group: files\nshadow: files\n'), null, 'no passwd line: glibc defaults');
    assert.equal(passwdSources('passwd: files\npasswd: sss\n'), null, 'two lines: ambiguous');
    assert.deepEqual(passwdSources('passwd:\n'), []);
  });

  it('takes files only for files and/or systemd, without actions, homed or a userdb drop-in for the name', () => {
    const root = tempRoot();
    const opts: PasswdSources = { homedSocket: join(root, 'homed'), userdbDirs: [join(root, 'userdb')] };
    for (const yes of ['passwd: files\n', 'passwd: files systemd\n', 'passwd: systemd files\n']) {
      assert.equal(filesAnswerFor('alice', yes, opts), true, yes);
    }
    for (const no of [
      'passwd: files sss systemd\n', // Fedora, RHEL
      'passwd: compat\n',
      'passwd: files ldap\n',
      'passwd: files usrfiles\n', // openSUSE: /usr/etc/passwd too
      'passwd: files [NOTFOUND=return] systemd\n',
      'passwd:\n',
      'group: files\n',
    ]) {
      assert.equal(filesAnswerFor('alice', no, opts), false, no);
    }
    assert.equal(filesAnswerFor('alice', null, opts), false, 'no nsswitch.conf');
    // userdb: a drop-in for this very name (another name's does not matter), then homed running
    mkdirSync(join(root, 'userdb'));
    writeFileSync(join(root, 'userdb', 'bob.user'), '{}');
    assert.equal(filesAnswerFor('alice', 'passwd: files systemd\n', opts), true);
    assert.equal(filesAnswerFor('bob', 'passwd: files systemd\n', opts), false);
    assert.equal(filesAnswerFor('bob', 'passwd: files\n', opts), true, 'without nss-systemd userdb is not asked');
    writeFileSync(join(root, 'homed'), '');
    assert.equal(filesAnswerFor('alice', 'passwd: files systemd\n', opts), false);
  });

  it('finds the first entry of exactly that name in passwd(5) text; NIS lines and malformed entries go to getent', () => {
    const text =
      'root:x:0:0:root:/root:/bin/bash\nal:x:1000:1000::/home/al:/bin/sh\nalice:x:1001:1002:A,,,:/home/alice:/bin/sh\nalice:x:7:7::/x:/bin/sh\n';
    assert.deepEqual(findPasswdEntry(text, 'alice'), { name: 'alice', uid: 1001, gid: 1002, home: '/home/alice' });
    assert.deepEqual(findPasswdEntry(text, 'al'), { name: 'al', uid: 1000, gid: 1000, home: '/home/al' });
    assert.equal(findPasswdEntry(text, 'ali'), null);
    assert.equal(findPasswdEntry(`${text}+@netgroup::::::\n`, 'bob'), undefined);
    assert.equal(findPasswdEntry('bob:x:12a:1::/home/bob:/bin/sh\n', 'bob'), undefined);
    assert.equal(findPasswdEntry('bob:x:1:1\n', 'bob'), undefined);
  });

  it('creates a user without running getent when NSS reads files only; a link as passwd file is left to getent', async () => {
    const before = getentCalls();
    const e = await ensureUser('erin', undefined, VIA_FILES);
    assert.deepEqual(e, { user: { name: 'erin', uid: 1001, gid: 1001, home: `${HOME}/erin` }, created: true });
    assert.equal((await ensureUser('erin', undefined, VIA_FILES)).created, false);
    assert.deepEqual(await lookupUser('daemon', VIA_FILES), { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' });
    assert.equal(await lookupUser('nobody-here', VIA_FILES), null);
    assert.equal(getentCalls(), before, 'no getent');

    // the same database behind a symbolic link: safe-read refuses it, getent answers
    const link = join(tempRoot(), 'passwd');
    symlinkSync(db, link);
    assert.deepEqual(await lookupUser('erin', { ...VIA_FILES, passwdFile: link }), e.user);
    assert.equal(getentCalls(), before + 1);
    // and with no nsswitch.conf at all
    assert.equal(await lookupUser('nobody-here', { ...VIA_FILES, nsswitchConf: join(root, 'missing') }), null);
    assert.equal(getentCalls(), before + 2);
  });
});
