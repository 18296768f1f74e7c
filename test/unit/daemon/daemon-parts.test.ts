// The daemon's building blocks: the pid file, the periodic task runner, the cycle back-off, the hostname monitor,
// the persistent-net mover and the firewall rule text.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { cycleDelay, MAX_BACKOFF_MS, periodicTasks } from '../../../src/daemon/daemon.ts';
import { iptablesRules, nftRuleset } from '../../../src/daemon/firewall.ts';
import { hostnameMonitorTask, recordedHostname } from '../../../src/daemon/hostname-monitor.ts';
import { PeriodicTasks } from '../../../src/util/periodic.ts';
import { movePersistentNetRules } from '../../../src/daemon/persistent-net.ts';
import { acquirePidFile } from '../../../src/daemon/pid-file.ts';
import { StopSignal } from '../../../src/daemon/stop-signal.ts';
import type { ExtensionsLoop } from '../../../src/extensions/loop.ts';
import type { DistroProfile } from '../../../src/os/distro-profile.ts';
import { fixtureProfile } from '../../helpers/distro.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'daemon-parts-'));

test('pid file: written with our pid, released only by us', () => {
  const dir = tmp();
  const path = join(dir, 'run', 'waagent.pid');
  const pid = acquirePidFile(path);
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  pid.release();
  assert.equal(existsSync(path), false);
});

test('pid file: a live waagent process refuses a second daemon; a dead or unrelated pid is replaced', async () => {
  const dir = tmp();
  const path = join(dir, 'waagent.pid');
  // a live process whose command line names waagent
  const fake = join(dir, 'waagent');
  writeFileSync(fake, '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
  const child = spawn(fake, [], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(path, `${child.pid}\n`);
    assert.throws(() => acquirePidFile(path), new RegExp(`another waagent daemon is running \\(pid ${child.pid}, from ${path}\\)`));
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => child.once('exit', r));
  acquirePidFile(path).release(); // dead now: replaced
  writeFileSync(path, '1\n'); // pid 1 is alive but is not waagent
  const p = acquirePidFile(path);
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  p.release();
});

test('periodic tasks run when due, a failure is retried at the next period, others are not held up', async () => {
  let now = 1000;
  const ran: string[] = [];
  let failNext = true;
  const tasks = new PeriodicTasks(
    [
      { name: 'a', periodMs: 30, run: async () => void ran.push('a') },
      {
        name: 'b',
        periodMs: 50,
        run: async () => {
          ran.push('b');
          if (failNext) {
            failNext = false;
            throw new Error('boom');
          }
        },
      },
    ],
    () => now,
  );
  assert.equal(await tasks.runDue(), 30);
  assert.deepEqual(ran, ['a', 'b']);
  now += 30;
  await tasks.runDue();
  assert.deepEqual(ran, ['a', 'b', 'a']);
  now += 20;
  await tasks.runDue();
  assert.deepEqual(ran, ['a', 'b', 'a', 'b'], 'b ran again after its failure');
  assert.equal(tasks.nextDueIn(), 10);
});

test('the cycle backs off while the platform does not answer, bounded', () => {
  assert.equal(cycleDelay(6000, 0), 6000);
  assert.equal(cycleDelay(6000, 1), 12_000);
  assert.equal(cycleDelay(6000, 3), 48_000);
  assert.equal(cycleDelay(6000, 50), MAX_BACKOFF_MS);
});

test('stop signal wakes a wait at once', async () => {
  const s = new StopSignal();
  const t = performance.now();
  setTimeout(() => s.stop(), 20);
  await s.wait(10_000);
  assert.ok(performance.now() - t < 2000);
  assert.equal(s.stopped, true);
  await s.wait(10_000); // already stopped: no wait
});

test('stop signal wakes every wait at once; an endless wait keeps the process alive until then', async () => {
  const s = new StopSignal();
  const t = performance.now();
  const waits = [s.wait(10_000), s.wait(Number.POSITIVE_INFINITY), s.wait(20_000)];
  setTimeout(() => s.stop(), 20);
  await Promise.all(waits);
  assert.ok(performance.now() - t < 2000);
  // a child process whose only work is an endless wait must still be running until it is signalled
  const child = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    `import { StopSignal } from ${JSON.stringify(new URL('../../../src/daemon/stop-signal.ts', import.meta.url).href)};
     const s = new StopSignal(); s.install(); process.stdout.write('waiting\\n'); await s.wait(Infinity); process.stdout.write('stopped\\n');`,
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('waiting')) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(child.exitCode, null, 'the process ended during an endless wait');
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0);
  assert.match(out, /waiting\nstopped\n/);
});

test('hostname monitor: sets a changed name with the profile’s tool and publishes it, once', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'published_hostname'), 'old-name');
  const config = Config.from({ 'Lib.Dir': dir, 'Provisioning.MonitorHostNamePeriod': 5 });
  let current = 'old-name';
  const published: string[] = [];
  const set: string[] = [];
  const task = hostnameMonitorTask(config, fixtureProfile('debian-12'), {
    currentName: () => current,
    setName: async (n) => void set.push(n),
    publish: async (n) => void published.push(n),
  });
  assert.equal(task.periodMs, 5000);
  await task.run();
  assert.deepEqual(published, []);
  current = 'new-name';
  await task.run();
  await task.run();
  assert.deepEqual(published, ['new-name']);
  assert.deepEqual(set, ['new-name']);
});

test("hostname monitor: without our record, cloud-init's set-hostname record is the published name", () => {
  const dir = tmp();
  const ci = join(dir, 'set-hostname');
  writeFileSync(ci, '{"fqdn": "vm.example", "hostname": "ci-name"}');
  assert.equal(recordedHostname(dir, ci), 'ci-name');
  writeFileSync(join(dir, 'published_hostname'), 'ours\n');
  assert.equal(recordedHostname(dir, ci), 'ours');
});

test('the persistent-net duty runs where the profile says (removePersistentNetRules), not by distro id', () => {
  const config = Config.from({ 'Lib.Dir': tmp() });
  const loop: ExtensionsLoop = {
    cycle: async () => true,
    wireServer: () => null,
    platform: () => null,
    periodMs: () => 1000,
    uploadLogs: async () => false,
    close: async () => {},
  };
  const hasDuty = (p: DistroProfile) => periodicTasks(config, p, loop).some((t) => t.name === 'persistent net rules');
  assert.equal(hasDuty(fixtureProfile('rhel-9.4')), true);
  assert.equal(hasDuty(fixtureProfile('flatcar')), true);
  assert.equal(hasDuty(fixtureProfile('debian-12')), false);
  assert.equal(hasDuty(fixtureProfile('ubuntu-22.04')), false);
  assert.equal(hasDuty({ ...fixtureProfile('debian-12'), removePersistentNetRules: true }), true);
});

test('persistent net rules are moved into Lib.Dir', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'rules'));
  const rule = join(dir, 'rules', '70-persistent-net.rules');
  writeFileSync(rule, 'SUBSYSTEM=="net"\n');
  const lib = join(dir, 'lib');
  mkdirSync(lib);
  assert.deepEqual(movePersistentNetRules(lib, [rule, join(dir, 'rules', 'absent.rules')]), [rule]);
  assert.equal(readFileSync(join(lib, '70-persistent-net.rules'), 'utf8'), 'SUBSYSTEM=="net"\n');
  assert.equal(existsSync(rule), false);
});

test('firewall rules: DNS and root accepted, every other new connection to the WireServer dropped', () => {
  assert.deepEqual(
    iptablesRules('168.63.129.16').map((r) => r.join(' ')),
    [
      '-d 168.63.129.16 -p tcp --destination-port 53 -j ACCEPT',
      '-d 168.63.129.16 -p tcp -m owner --uid-owner 0 -j ACCEPT',
      '-d 168.63.129.16 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
    ],
  );
  assert.match(nftRuleset('10.0.0.1'), /ip daddr 10\.0\.0\.1 tcp dport != 53 skuid != 0 ct state invalid,new counter drop/);
});

test('console log: lines reach the console device until closed; no console is no error', async () => {
  const { log } = await import('../../../src/log/logger.ts');
  const dir = tmp();
  const consolePath = join(dir, 'console');
  writeFileSync(consolePath, '');
  log.addConsole(consolePath, 'INFO');
  log.addConsole(join(dir, 'no-such-dir', 'console'), 'INFO');
  try {
    log.info('provisioning starts');
    log.verbose('not for the console');
    log.closeConsole();
    log.info('after provisioning');
  } finally {
    log.closeConsole();
  }
  const text = readFileSync(consolePath, 'utf8');
  assert.match(text, /^\S+Z INFO Daemon provisioning starts\n$/);
});
