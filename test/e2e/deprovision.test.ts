// -deprovision and -deprovision+user in the namespace sandbox, called in-process by test/e2e/os-commands-script.ts
// (not yet through dist/waagent, which the lead wires): a provisioned-looking VM is set up with the real tools, the
// file tree is listed before and after, and exactly the documented files (docs/protocol.md §8.1) must be gone.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES, REPO_ROOT } from '../helpers/paths.ts';
import { withSandbox, type Sandbox } from '../sandbox/sandbox.ts';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'os-commands-script.ts');

// A recorded ovf-env.xml with the user name changed (in memory) to one useradd accepts everywhere.
const OVF = readFileSync(join(FIXTURES, 'tests/data/ovf-env.xml'), 'utf8').replace(
  '<UserName>UserName</UserName>',
  '<UserName>alice</UserName>',
);

const CREATED: Record<string, string> = {
  '/var/lib/waagent/ovf-env.xml': OVF,
  '/var/lib/waagent/provisioned': 'vm-id',
  '/var/lib/waagent/WireServerEndpoint': '168.63.129.16',
  '/var/lib/waagent/history/2026-01-01T00-00-00__1/GoalState.xml': '<GoalState/>',
  '/var/lib/waagent/Microsoft.Ext-1.0/config/0.settings': '{}',
  '/var/lib/waagent/waagent-network-setup.py': '# firewall',
  '/var/log/azure/Microsoft.Ext/handler.log': 'log',
  '/var/log/waagent.log': 'old agent log\n',
  '/root/.bash_history': 'ls\n',
  '/var/lib/dhcp/dhclient.eth0.leases': 'lease',
  '/var/lib/dhclient/dhclient-eth0.leases': 'lease',
  '/var/lib/NetworkManager/dhclient-0a1b.lease': 'lease',
  '/run/systemd/netif/leases/2': 'lease',
  '/etc/systemd/system/waagent-network-setup.service': '[Unit]\n',
  '/etc/systemd/system/walinuxagent.service.d/10-Slice.conf': '[Service]\n',
  '/etc/systemd/system/walinuxagent.service.d/13-MemoryAccounting.conf': '[Service]\n',
  '/etc/systemd/system/azure-walinuxagent-logcollector.slice': '[Slice]\n',
  '/etc/resolv.conf': 'nameserver 127.0.0.1\n',
};
// Near the removed files, and not in the documented list: they must survive.
const KEPT: Record<string, string> = {
  '/var/lib/NetworkManager/NetworkManager.state': 'state',
  '/etc/systemd/system/walinuxagent.service.d/50-operator.conf': '[Service]\n',
  '/etc/ssh/sshd_config.d/50-operator.conf': '# keep\n',
  '/root/.profile-operator': 'keep',
  '/etc/dhcp/dhclient.conf': 'timeout 300;\n',
};

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout;
}

async function setUp(sb: Sandbox): Promise<void> {
  sb.writeFile(
    '/etc/waagent.conf',
    'Lib.Dir=/var/lib/waagent\nLogs.File=/var/log/waagent.log\nProvisioning.DeleteRootPassword=y\nProvisioning.RegenerateSshHostKeyPair=y\n',
  );
  for (const [p, c] of Object.entries({ ...CREATED, ...KEPT })) sb.writeFile(p, c);
  await sh(sb, 'useradd -m alice && useradd -m bob && mkdir -p /home/alice/.ssh && echo key > /home/alice/.ssh/authorized_keys');
  sb.writeFile('/etc/sudoers.d/waagent', 'alice ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n', 0o440);
  await sh(
    sb,
    'ssh-keygen -q -A && echo \'root:$6$abc$def:19000:0:99999:7:::\' > /tmp/r && sed -i "s|^root:.*|$(cat /tmp/r)|" /etc/shadow',
  );
  await sh(sb, 'hostname vm-before && echo vm-before > /etc/hostname');
}

/**
 * The sandbox's own changes: its overlay upper layers (path → find's type letter; a deletion of a file of the host's
 * layer is a whiteout, type c). Immune to whatever the host does meanwhile, and complete: nothing changed elsewhere.
 */
function changes(sb: Sandbox, detail = false): Map<string, string> {
  const out = execFileSync('find', [join(sb.dir, 'upper'), '-mindepth', '1', '-printf', detail ? '%y %s %T@ %P\\n' : '%y %P\\n'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const m = new Map<string, string>();
  for (const line of out.split('\n').filter(Boolean)) {
    const parts = line.split(' ');
    const path = '/' + parts.slice(detail ? 3 : 1).join(' ');
    m.set(path, detail ? parts.slice(0, 3).join(' ') : parts[0]!);
  }
  return m;
}

/** Paths removed between two snapshots: gone from the upper layer, or newly whited out. */
function removed(before: Map<string, string>, after: Map<string, string>): string[] {
  const gone = [...before.keys()].filter((p) => !after.has(p) || (after.get(p) === 'c' && before.get(p) !== 'c'));
  const whiteouts = [...after].filter(([p, t]) => t === 'c' && !before.has(p)).map(([p]) => p);
  return [...new Set([...gone, ...whiteouts])].sort();
}

function added(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after]
    .filter(([p, t]) => t !== 'c' && !before.has(p))
    .map(([p]) => p)
    .sort();
}

async function deprovision(sb: Sandbox, command: string, mode: 'force' | 'ask', answer = '') {
  return sb.exec([process.execPath, SCRIPT, command, ...(mode === 'force' ? ['-force'] : [])], { input: answer, timeoutMs: 120_000 });
}

// What userdel and `touch /var/run/utmp` may leave behind: backups of the account files, the utmp file.
const ACCOUNT_BACKUPS = /^\/etc\/(passwd|shadow|group|gshadow|subuid|subgid)-$|^\/run\/utmp$/;

function expectedRemoved(before: Map<string, string>, hostKeys: string[], withUser: boolean): string[] {
  const docs = [...before.keys()].filter(
    (p) =>
      /^\/var\/lib\/waagent\/./.test(p) ||
      /^\/var\/log\/azure\/./.test(p) ||
      /^\/var\/lib\/(dhcp|dhclient|dhcpcd)\/./.test(p) ||
      /^\/run\/systemd\/netif\/leases\/./.test(p) ||
      (withUser && (p === '/home/alice' || p.startsWith('/home/alice/') || p === '/var/mail/alice')),
  );
  return [...new Set([...docs, ...hostKeys, ...Object.keys(CREATED)])].sort();
}

async function hostKeys(sb: Sandbox): Promise<string[]> {
  const keys = (await sh(sb, 'ls -d /etc/ssh/ssh_host_*')).split('\n').filter(Boolean);
  assert.ok(keys.includes('/etc/ssh/ssh_host_ed25519_key'), keys.join(' '));
  return keys;
}

describe('deprovision in the sandbox', () => {
  it('-deprovision -force removes exactly the documented files, keeps the user, resets hostname and root password', async () => {
    const hostBefore = hostname();
    await withSandbox(async (sb) => {
      await setUp(sb);
      const keys = await hostKeys(sb);
      const before = changes(sb);
      assert.ok(before.has('/home/alice/.ssh/authorized_keys'));
      const r = await deprovision(sb, 'deprovision', 'force');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), [
        'WARNING! The waagent service will be stopped.',
        'WARNING! All SSH host key pairs will be deleted.',
        'WARNING! Cached DHCP leases will be deleted.',
        'WARNING! root password will be disabled. You will not be able to login as root.',
        'WARNING! /etc/resolv.conf will be deleted.',
      ]);
      const after = changes(sb);
      assert.deepEqual(removed(before, after), expectedRemoved(before, keys, false));
      assert.deepEqual(
        added(before, after).filter((p) => !ACCOUNT_BACKUPS.test(p)),
        [],
      );
      // the emptied directories stay
      for (const d of ['/var/lib/waagent', '/var/log/azure', '/var/lib/dhcp', '/run/systemd/netif/leases'])
        assert.equal(after.get(d), 'd', d);
      assert.equal(sb.readFile('/etc/hostname'), 'localhost.localdomain\n');
      assert.equal((await sh(sb, 'hostname')).trim(), 'localhost.localdomain');
      assert.match(sb.readFile('/etc/dhcp/dhclient.conf'), /^timeout 300;\nsend host-name "localhost.localdomain";\n$/);
      assert.equal(sb.readFile('/etc/shadow').split('\n')[0], 'root:*LOCK*:14600::::::');
      assert.match(await sh(sb, 'getent passwd alice'), /^alice:/);
      assert.equal(sb.readFile('/etc/sudoers.d/waagent'), 'alice ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n');
    });
    assert.equal(hostname(), hostBefore, 'the host name is untouched');
  });

  it('-deprovision+user also deletes the user from ovf-env.xml, its home and its sudo rule', async () => {
    await withSandbox(async (sb) => {
      await setUp(sb);
      const keys = await hostKeys(sb);
      const before = changes(sb);
      const r = await deprovision(sb, 'deprovision+user', 'force');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes('WARNING! alice account and entire home directory will be deleted.\n'), r.stdout);
      const after = changes(sb);
      assert.deepEqual(removed(before, after), expectedRemoved(before, keys, true));
      assert.deepEqual(
        added(before, after).filter((p) => !ACCOUNT_BACKUPS.test(p)),
        [],
      );
      const gone = await sb.exec(['getent', 'passwd', 'alice']);
      assert.equal(gone.code, 2, 'alice is gone');
      assert.match(await sh(sb, 'getent passwd bob'), /^bob:/);
      assert.equal(sb.readFile('/etc/sudoers.d/waagent'), 'bob ALL=(ALL) ALL\n');
    });
  });

  it('-deprovision+user without ovf-env.xml warns and keeps every user', async () => {
    await withSandbox(async (sb) => {
      await setUp(sb);
      await sh(sb, 'rm /var/lib/waagent/ovf-env.xml');
      const r = await deprovision(sb, 'deprovision+user', 'force');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes('WARNING! ovf-env.xml is not found.\nWARNING! Skip delete user.\n'), r.stdout);
      assert.match(await sh(sb, 'getent passwd alice'), /^alice:/);
    });
  });

  it('answering n (or nothing) changes nothing; y proceeds', async () => {
    await withSandbox(async (sb) => {
      await setUp(sb);
      const snapshot = async () =>
        [...changes(sb, true)]
          .map(([p, d]) => `${p} ${d}`)
          .sort()
          .join('\n') +
        '\nhostname ' +
        (await sh(sb, 'hostname'));
      const before = await snapshot();
      for (const answer of ['n\n', 'no thanks\n', '']) {
        const r = await deprovision(sb, 'deprovision+user', 'ask', answer);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.includes('Do you want to proceed (y/n)'), r.stdout);
        const now = await snapshot();
        const diff = now.split('\n').filter((l) => !before.split('\n').includes(l));
        assert.deepEqual(diff, [], `answer ${JSON.stringify(answer)} changed something`);
      }
      const r = await deprovision(sb, 'deprovision', 'ask', 'Y\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sb.readFile('/etc/hostname'), 'localhost.localdomain\n');
    });
  });
});
