// The provisioning OS actions on the real tools (useradd, usermod, visudo, sshd, ssh, hostname) inside the
// namespace sandbox: test/e2e/prov-os-script.ts applies them there and reports; this file checks the report.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, REPO_ROOT } from '../helpers/paths.ts';
import { withSandbox } from '../sandbox/sandbox.ts';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'prov-os-script.ts');

/** What prov-os-script.ts prints (the fields checked here). */
interface Report {
  user: { created: boolean; again: boolean; uid: number; home: string; homeExists: boolean };
  shadow: string;
  systemUser: { error: string };
  badUser: { error: string };
  sudoers: string;
  visudo: number;
  sudoList: string;
  sshd: { check: string };
  regenerated: boolean;
  fingerprint: string;
  fingerprintCheck: string;
  sshdT: string;
  authorizedKeys: string;
  noCert: { error: string };
  modes: Record<string, { mode: string; uid: number }>;
  pairPub: string[];
  pairPubMatches: boolean;
  reload: string;
  loginInline: string;
  loginCert: string;
  hostname: string[];
  published: string;
  customRan: string;
  customData: { exitCode: number };
  shadowFirst: string;
  marker: string;
  kvp: { key: string; value: string }[];
}

test('provisioning OS actions in the sandbox: user, password, sudo, sshd, keys, login, hostname, KVP', async () => {
  const hostBefore = hostname();
  await withSandbox(async (sb) => {
    const r = await sb.exec([process.execPath, SCRIPT, sb.dir, join(FIXTURES, 'tests/data/wire')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `the script failed: ${r.stderr}`);
    const o = JSON.parse(r.stdout) as Report;

    assert.deepEqual(
      { ...o.user, uid: typeof o.user.uid },
      { created: true, again: false, uid: 'number', home: '/home/alice', homeExists: true },
    );
    // the hash is SHA-512 crypt with a 10-character salt, and the system's crypt gives the same hash for the password
    assert.match(o.shadow, /^\$6\$[A-Za-z0-9./]{10}\$[A-Za-z0-9./]{86}$/);
    const salt = o.shadow.split('$')[2];
    const check = await sb.exec(['openssl', 'passwd', '-6', '-salt', salt, 'Pr0v-e2e pass']);
    assert.equal(check.stdout.trim(), o.shadow);
    assert.match(o.systemUser.error, /refusing to set the password of the system user daemon \(uid 1 is below UID_MIN 1000/);
    assert.match(o.badUser.error, /"-rf" is not a valid Linux user name/);

    assert.equal(o.sudoers, 'alice ALL=(ALL) ALL\n');
    assert.equal(o.visudo, 0);
    assert.match(o.sudoList, /\(ALL\) ALL/);
    assert.doesNotMatch(o.sudoList, /NOPASSWD/);

    assert.equal(o.sshd.check, 'ok');
    assert.equal(o.regenerated, true);
    assert.ok(o.fingerprintCheck.includes(o.fingerprint), `${o.fingerprint} / ${o.fingerprintCheck}`);
    assert.deepEqual(o.sshdT.split('\n'), ['clientaliveinterval 180', 'kbdinteractiveauthentication no', 'passwordauthentication no']);

    const keys = o.authorizedKeys.trim().split('\n');
    assert.equal(keys.length, 3, o.authorizedKeys);
    assert.match(keys[0], /ignition$/, 'the key that was there first survives');
    assert.match(keys[1], /^ssh-ed25519 \S+$/, 'the inline key, CR stripped');
    assert.match(keys[2], /^ssh-rsa /, 'the key from the certificate');
    assert.match(o.noCert.error, /certificate for the SSH key thumbprint 0{40} was not found/);
    assert.deepEqual(o.modes['/home/alice/.ssh'].mode, '700');
    assert.deepEqual(o.modes['/home/alice/.ssh/authorized_keys'].mode, '644');
    assert.deepEqual(o.modes['/home/alice/.ssh/id_rsa'].mode, '600');
    assert.deepEqual(o.modes['/home/alice/.ssh/id_rsa.pub'].mode, '644');
    for (const m of Object.values(o.modes) as Array<{ uid: number }>) assert.equal(m.uid, o.user.uid);
    assert.equal(o.pairPubMatches, true, JSON.stringify(o.pairPub));

    assert.equal(o.reload, 'signal');
    assert.equal(o.loginInline, 'alice');
    assert.equal(o.loginCert, 'alice');

    assert.deepEqual(o.hostname, ['prov-e2e-host', 'prov-e2e-host\n']);
    assert.equal(o.published, 'prov-e2e-host');
    assert.equal(o.customRan, 'custom\n');
    assert.equal(o.customData.exitCode, 0);
    assert.equal(o.shadowFirst, 'root:*LOCK*:14600::::::');
    assert.equal(o.marker, 'same-vm');
    assert.equal(o.kvp.length, 1);
    assert.equal(o.kvp[0].key, 'PROVISIONING_REPORT');
    assert.match(
      o.kvp[0].value,
      /^result=error\|reason=example failure\|agent=waagent-ts\/.*\|vm_id=D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8\|/,
    );
  });
  assert.equal(hostname(), hostBefore, 'the host name is untouched');
});
