import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { log } from '../../../src/log/logger.ts';
import { run } from '../../../src/os/exec.ts';
import {
  ensureUser,
  ensureUserWithPassword,
  hashPassword,
  lookupUser,
  parseUidMin,
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

describe('the user account (§4.4 step 8)', () => {
  it('creates the user with useradd -m once', async () => {
    const a = await ensureUser('alice');
    assert.deepEqual(a, { user: { name: 'alice', uid: 1001, gid: 1001, home: `${HOME}/alice` }, created: true });
    const b = await ensureUser('alice');
    assert.equal(b.created, false);
    assert.equal(
      tools
        .calls()
        .filter((c) => c.startsWith('useradd'))
        .join(),
      'useradd -m alice',
    );
    assert.equal(await lookupUser('nobody-here'), null);
  });

  it('an existing user whose home is missing (useradd killed part-way) gets it, 0750 and owned by the user', async () => {
    writeFileSync(db, `${readFileSync(db, 'utf8')}carol:x:1002:1003::${HOME}/carol:/bin/sh\n`);
    const c = await ensureUser('carol');
    assert.equal(c.created, false);
    const st = statSync(`${HOME}/carol`);
    assert.ok(st.isDirectory());
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o750, 1002, 1003]);
  });

  it('names the user when useradd fails, and refuses invalid names before running anything', async () => {
    await rejectsWith(ensureUser('broken'), 'provisioning', /cannot create the user broken: .*cannot lock \/etc\/passwd/);
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
    const dave = await ensureUserWithPassword(Config.defaults(), 'dave', 'Dave pass 2');
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
    await ensureUserWithPassword(Config.defaults(), 'dave', 'Dave pass 3');
    const again = tools.calls().slice(mid);
    assert.equal(again.filter((c) => c.startsWith('useradd')).length, 0, again.join('\n'));
    assert.match(again.filter((c) => c.startsWith('usermod')).join(), /^usermod -p \$6\$\S+ dave$/);
  });

  it('refuses a system user unless AllowResetSysUser', async () => {
    const root = tempRoot();
    const defs = join(root, 'login.defs');
    writeFileSync(defs, 'UID_MIN 1000\n');
    const daemon = (await lookupUser('daemon'))!;
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
