// RemoteAccess JIT accounts end to end (docs/protocol.md §2.9): the BUILT binary runs `-run-exthandlers -once` in the
// namespace sandbox against the fabric emulator, which serves a goal state naming RemoteAccessInfo and encrypts each
// password to the agent's transport certificate. Checked with the real useradd / userdel / chage and /etc/shadow: the
// unexpired user is created with its expiry, comment, password and sudo rule; the expired one is not; a stale JIT
// account goes, another account stays untouched; a later document without users removes the JIT account.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cryptWithSalt } from '../../src/crypto/index.ts';
import { FIXTURES, REPO_ROOT } from '../helpers/paths.ts';
import { createSandbox, WAAGENT, type EmulatorHandle, type Sandbox } from '../sandbox/sandbox.ts';

const GOAL_STATE = join(FIXTURES, 'tests/data/wire/goal_state_remote_access.xml');
const JIT_DOC = join(REPO_ROOT, 'test/fixtures/remote-access/remote_access_jit.xml');
const NO_USERS_DOC = join(REPO_ROOT, 'test/fixtures/remote-access/remote_access_none.xml');

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

function shadowHash(sb: Sandbox, user: string): string | null {
  const line = sb
    .readFile('/etc/shadow')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  return line ? line.split(':')[1]! : null;
}

describe('RemoteAccess JIT accounts against the emulator (-run-exthandlers -once)', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  let aliceShadow: string | null;

  before(async () => {
    sb = await createSandbox();
    emu = await sb.startEmulator(['--doc', `goalState=${GOAL_STATE}`, '--doc', `remoteAccess=${JIT_DOC}`]);
    // Extensions off: the recorded ExtensionsConfig names packages on the internet (the sandbox has no route anyway).
    sb.writeConfig({ 'Extensions.Enabled': 'n', EnableOverProvisioning: 'n', 'OS.EnableFirewall': 'n' });
    await sh(sb, 'useradd -m alice && echo "alice:Alice pass 1" | chpasswd && useradd -m -c JIT_Account stalejit');
    aliceShadow = shadowHash(sb, 'alice');
  });
  after(async () => {
    await sb?.close();
  });

  test('creates the listed unexpired user and removes the stale JIT account, leaving other accounts alone', async () => {
    const r = await sb.exec([WAAGENT, '-run-exthandlers', '-once'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

    const entry = (await sh(sb, 'getent passwd jitadmin')).split(':');
    assert.equal(entry[4], 'JIT_Account');
    assert.equal(entry[5], '/home/jitadmin');
    assert.match(await sh(sb, 'chage -l jitadmin'), /Account expires\s*:\s*Jan 02, 2100/);
    const hash = shadowHash(sb, 'jitadmin')!;
    assert.match(hash, /^\$6\$/);
    assert.equal(cryptWithSalt('Jit-e2e pass 1', hash), hash, 'the password is the one the platform encrypted');
    assert.match(sb.readFile('/etc/sudoers.d/waagent'), /^jitadmin ALL=\(ALL\) ALL$/m);

    assert.equal((await sb.exec(['getent', 'passwd', 'jitexpired'])).code, 2, 'the expired user is not created');
    assert.equal((await sb.exec(['getent', 'passwd', 'stalejit'])).code, 2, 'the unlisted JIT account is removed');
    assert.equal((await sb.exec(['test', '-e', '/home/stalejit'])).code, 1, 'with its home');
    assert.equal(shadowHash(sb, 'alice'), aliceShadow, 'another account is not touched');

    const req = (await emu.requests()).find((q) => /remoteaccessinfouri/i.test(q.path));
    assert.ok(req, 'the RemoteAccess document was fetched');
    assert.ok(req.headers['x-ms-guest-agent-public-x509-cert'], 'with the transport certificate');
    assert.equal(req.headers['x-ms-cipher-name'], 'AES128_CBC');

    const history = await sh(sb, 'cat /var/lib/waagent/history/*/RemoteAccess.xml');
    assert.match(history, /<Password>\*\*\*REDACTED\*\*\*<\/Password>/);
    assert.ok(!history.includes('Jit-e2e'), 'no password in the history');
    assert.ok(!sb.readFile('/var/log/waagent.log').includes('Jit-e2e pass'), 'no password in the log');
  });

  test('a later document without users removes the JIT account and its sudo rule', async () => {
    await emu.control.goalState({ docs: { remoteAccess: NO_USERS_DOC }, bumpIncarnation: true });
    const r = await sb.exec([WAAGENT, '-run-exthandlers', '-once'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((await sb.exec(['getent', 'passwd', 'jitadmin'])).code, 2);
    assert.doesNotMatch(sb.readFile('/etc/sudoers.d/waagent'), /jitadmin/);
    assert.equal(shadowHash(sb, 'alice'), aliceShadow);
  });
});
