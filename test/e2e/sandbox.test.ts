// The namespace sandbox of docs/contract.md §5 (test/sandbox/sandbox.ts): it really isolates the host, and it cleans up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSandbox, withSandbox } from '../sandbox/sandbox.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const NODE = process.execPath;

/** Host pids whose pid namespace is `ns` (a readlink of /proc/PID/ns/pid). */
function pidsInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) === ns) out.push(Number(p));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

test('a hostname set inside the sandbox does not change the host name', async () => {
  const before = hostname();
  await withSandbox(async (sb) => {
    const set = await sb.exec(['hostname', 'inside-only-host']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal((await sb.exec(['hostname'])).stdout.trim(), 'inside-only-host');
    assert.equal(hostname(), before);
  });
  assert.equal(hostname(), before);
});

test('files written under /etc, /var/lib/waagent and /root inside are absent outside, and the host files are visible inside', async () => {
  const name = `waagent-sandbox-probe-${process.pid}`;
  await withSandbox(async (sb) => {
    const r = await sb.exec([
      'sh',
      '-c',
      `echo x > /etc/${name} && echo y > /var/lib/waagent/${name} && echo z > /root/${name} && cat /etc/${name}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'x\n');
    assert.ok(!existsSync(`/etc/${name}`));
    assert.ok(!existsSync(`/var/lib/waagent/${name}`));
    assert.ok(!existsSync(`/root/${name}`));
    // overlay, not an empty tmpfs: the host's passwd is there inside
    assert.equal(sb.readFile('/etc/passwd'), readFileSync('/etc/passwd', 'utf8'));
    // the checkout stays visible at its host path
    assert.equal((await sb.exec(['cat', join(REPO_ROOT, 'package.json')])).stdout, readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  });
  assert.ok(!existsSync(`/etc/${name}`));
});

test('a connection to a non-loopback address fails with ENETUNREACH, and loopback works', async () => {
  await withSandbox(async (sb) => {
    const script = `const net = require('node:net');
      const s = net.connect(80, process.argv[1]);
      s.on('connect', () => { console.log('CONNECTED'); s.destroy(); });
      s.on('error', (e) => console.log(e.code));`;
    for (const address of ['168.63.129.16', '169.254.169.254', '192.0.2.1']) {
      const r = await sb.exec([NODE, '-e', script, address]);
      assert.equal(r.stdout.trim(), 'ENETUNREACH', `${address}: ${r.stdout} ${r.stderr}`);
    }
    const links = await sb.exec(['ip', '-o', 'link']);
    assert.deepEqual(
      links.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]!.trim()),
      ['lo'],
    );
    const lo = await sb.exec([
      NODE,
      '-e',
      `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      require('node:net').connect(s.address().port, '127.0.0.1', function () { console.log('OK'); this.destroy(); s.close(); }); });`,
    ]);
    assert.equal(lo.stdout.trim(), 'OK', lo.stderr);
  });
});

test('every process of the sandbox dies at close, and its directory is removed', async () => {
  const sb = await createSandbox();
  const child = sb.spawn(['sleep', '1000']);
  const r = await sb.exec(['sh', '-c', 'sleep 1000 & echo started']);
  assert.equal(r.stdout, 'started\n');
  const ns = readlinkSync(`${sb.root.replace(/\/root$/, '')}/ns/pid`);
  assert.ok(pidsInNamespace(ns).length >= 3, 'the init and the two sleeps run in the namespace');
  await sb.close();
  assert.deepEqual(pidsInNamespace(ns), []);
  assert.ok(child.exitCode !== null || child.signalCode !== null, 'the spawned nsenter ended');
  assert.ok(!existsSync(sb.dir));
});

test('withSandbox cleans up and passes on the error when the test body throws', async () => {
  let dir = '';
  let ns = '';
  await assert.rejects(
    withSandbox(async (sb) => {
      dir = sb.dir;
      ns = readlinkSync(`${sb.root.replace(/\/root$/, '')}/ns/pid`);
      sb.spawn(['sleep', '1000']);
      throw new Error('the test failed');
    }),
    /the test failed/,
  );
  assert.ok(!existsSync(dir));
  assert.deepEqual(pidsInNamespace(ns), []);
});

test('exec passes stdin and env, reports the exit code, and kills a command that runs past its timeout', async () => {
  await withSandbox(async (sb) => {
    const r = await sb.exec(['sh', '-c', 'cat; echo "$FOO"; exit 3'], { input: 'in\n', env: { FOO: 'bar' } });
    assert.deepEqual(r, { code: 3, stdout: 'in\nbar\n', stderr: '' });
    const started = Date.now();
    await assert.rejects(sb.exec(['sleep', '30'], { timeoutMs: 300 }), /sleep 30 ran longer than 300 ms in the sandbox/);
    assert.ok(Date.now() - started < 5000);
    // killed, not left running (a zombie waiting for pid 1 to reap it is dead already)
    const left = await sb.exec(['sh', '-c', 'ps -eo stat=,comm= | awk \'$2 == "sleep" && $1 !~ /^Z/\' | wc -l']);
    assert.equal(left.stdout.trim(), '0');
  });
});

test('writeFile and readFile work inside the sandbox, and say clearly what is wrong', async () => {
  await withSandbox(async (sb) => {
    sb.writeFile('/var/lib/waagent/deep/dir/file.txt', 'hello\n', 0o600);
    assert.equal(sb.readFile('/var/lib/waagent/deep/dir/file.txt'), 'hello\n');
    assert.equal((await sb.exec(['stat', '-c', '%a', '/var/lib/waagent/deep/dir/file.txt'])).stdout.trim(), '600');
    assert.throws(() => sb.readFile('/nonexistent/file'), /^Error: cannot read \/nonexistent\/file in the sandbox: /);
    assert.throws(() => sb.writeFile('relative/path', 'x'), /writeFile needs an absolute path inside the sandbox/);
    assert.throws(() => sb.writeConfig(), /writeConfig needs a running emulator: call startEmulator first/);
  });
});

test('writeConfig points waagent.conf at the running emulator', async () => {
  await withSandbox(async (sb) => {
    const emu = await sb.startEmulator(['--wireserver', '127.0.0.1:0', '--hostplugin', '127.0.0.1:0']);
    const path = sb.writeConfig({ 'Logs.Verbose': 'y', 'Lib.Dir': '/var/lib/waagent-test' });
    assert.equal(path, '/etc/waagent.conf');
    const conf = sb.readFile(path);
    assert.match(conf, new RegExp(`^Protocol.WireServerEndpoint=${emu.wireServer}$`, 'm'));
    assert.match(conf, new RegExp(`^Protocol.HostGAPluginPort=${emu.hostPluginPort}$`, 'm'));
    assert.match(conf, new RegExp(`^Protocol.ImdsEndpoint=${emu.imds}$`, 'm'));
    assert.match(conf, /^Lib.Dir=\/var\/lib\/waagent-test$/m);
    assert.match(conf, /^Logs.File=\/var\/log\/waagent.log$/m);
    assert.match(conf, /^Logs.Verbose=y$/m);
    assert.ok(emu.hostPluginPort !== 32526 && emu.hostPluginPort > 0);
  });
});

test('the built agent runs inside the sandbox', async () => {
  await withSandbox(async (sb) => {
    const r = await sb.exec([join(REPO_ROOT, 'dist', 'waagent'), '-version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^WALinuxAgent-\S+ running on /);
  });
});

test('without root the sandbox fails with a clear message instead of skipping', () => {
  // imported as root, then nobody: the checkout may sit in a directory nobody cannot enter (a `mktemp -d` clone)
  const script = `const { createSandbox } = await import(${JSON.stringify(join(REPO_ROOT, 'test', 'sandbox', 'sandbox.ts'))});
    process.setgroups([]); process.setgid(65534); process.setuid(65534);
    try { await createSandbox(); console.log('STARTED'); } catch (e) { console.log(e.message); }`;
  const r = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.stdout.trim(), 'the end-to-end sandbox needs root (it creates namespaces and mounts): run the tests as root', r.stderr);
});
