// The monitor role (src/daemon/monitor-role.ts): of the processes that run the goal-state loop, only the one the file
// names sends the heartbeats; a free, stale (dead pid) or foreign (not waagent) file is taken; the role is given up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MONITOR_PID_FILE, MonitorRole } from '../../../src/daemon/monitor-role.ts';

function world() {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-role-'));
  const lib = join(dir, 'lib');
  const proc = join(dir, 'proc');
  mkdirSync(lib);
  /** A process the role checks: `pid` (alive or not as the kernel says) with this command line. */
  const cmdline = (pid: number, text: string) => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cmdline'), text.replaceAll(' ', '\0'));
  };
  const role = (pid: number) => new MonitorRole(lib, { procDir: proc, pid });
  const file = join(lib, MONITOR_PID_FILE);
  return { dir, file, cmdline, role, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A pid that has just exited (not reused this soon). */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

test('the first claimant takes the role; another live waagent is refused while it holds it; release hands it on', () => {
  const w = world();
  try {
    // this test process plays the live holder (its pid is alive); its command line says waagent
    const holderPid = process.pid;
    w.cmdline(holderPid, '/usr/sbin/waagent -daemon');
    const holder = w.role(holderPid);
    const other = w.role(holderPid + 1_000_000);
    assert.equal(holder.claim(), true);
    assert.equal(readFileSync(w.file, 'utf8'), `${holderPid}\n`);
    assert.equal(holder.claim(), true, 'still held at the next check');
    assert.equal(other.claim(), false, 'a second process does not send');
    holder.release();
    assert.equal(existsSync(w.file), false);
    assert.equal(other.claim(), true, 'the role passes on once given up');
    holder.release();
    assert.equal(existsSync(w.file), true, 'release by a non-holder leaves the file alone');
  } finally {
    w.close();
  }
});

test('a stale file (dead pid) and a file naming a live process that is not waagent are taken over', () => {
  const w = world();
  try {
    writeFileSync(w.file, `${deadPid()}\n`);
    const me = w.role(4242);
    assert.equal(me.claim(), true);
    assert.equal(readFileSync(w.file, 'utf8'), '4242\n');

    // a live pid reused by another program
    w.cmdline(process.pid, '/usr/bin/sleep 100');
    writeFileSync(w.file, `${process.pid}\n`);
    assert.equal(w.role(4343).claim(), true);
    assert.equal(readFileSync(w.file, 'utf8'), '4343\n');
    // a holder whose file now names another live waagent has lost the role
    w.cmdline(process.pid, 'waagent -run-exthandlers');
    writeFileSync(w.file, `${process.pid}\n`);
    assert.equal(me.claim(), false);
  } finally {
    w.close();
  }
});

test('garbage in the file counts as free; a missing Lib.Dir means no role (nothing thrown)', () => {
  const w = world();
  try {
    writeFileSync(w.file, 'not a pid');
    assert.equal(w.role(77).claim(), true);
    const nowhere = new MonitorRole(join(w.dir, 'missing'), { pid: 78 });
    assert.equal(nowhere.claim(), false);
  } finally {
    w.close();
  }
});
