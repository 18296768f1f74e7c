// The built artifacts (issue 2): one self-contained executable per architecture, and the bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINARY_ARM64, BINARY_X64, BUNDLE } from '../helpers/paths.ts';
import { readElf } from '../helpers/elf.ts';

const VERSION_LINE = /^WALinuxAgent-2\.15\.0\.1 running on \S+/;

test('the x64 executable runs -version with an empty environment and no Node on PATH', () => {
  const r = spawnSync('env', ['-i', BINARY_X64, '-version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, VERSION_LINE);
  assert.match(lines[1]!, /^waagent-ts: \d+\.\d+\.\d+ \(node 24\.21\.0, x64\)$/);
  assert.equal(r.stderr, '');
});

test('the x64 executable carries the SEA blob and was stripped before injection', () => {
  const elf = readElf(BINARY_X64);
  assert.equal(elf.machine, 'x86-64');
  assert.ok(elf.seaFuse, 'the SEA fuse is not set');
  const blob = elf.notes.find((n) => n.name === 'NODE_SEA_BLOB');
  assert.ok(blob && blob.size > 10_000, `no NODE_SEA_BLOB note: ${JSON.stringify(elf.notes.map((n) => n.name))}`);
  assert.ok(!elf.sections.includes('.symtab'), 'the base binary still has a symbol table');
  assert.ok(!elf.sections.some((s) => s.startsWith('.debug_')), 'the base binary still has debug info');
  assert.ok(statSync(BINARY_X64).size <= 110 * 1024 * 1024, 'the x64 executable is over 110 MB');
});

test('the arm64 executable is an aarch64 ELF with the SEA blob', () => {
  const elf = readElf(BINARY_ARM64);
  assert.equal(elf.machine, 'aarch64');
  assert.ok(elf.seaFuse, 'the SEA fuse is not set');
  const blob = elf.notes.find((n) => n.name === 'NODE_SEA_BLOB');
  assert.ok(blob && blob.size > 10_000, 'no NODE_SEA_BLOB note');
});

test('the arm64 executable runs -version under qemu-aarch64-static', () => {
  // scripts/bootstrap.sh installs qemu-user-static and the arm64 runtime libraries, so this runs everywhere
  // the README's test command runs.
  assert.ok(existsSync('/usr/bin/qemu-aarch64-static'), 'qemu-aarch64-static is missing: run scripts/bootstrap.sh');
  const r = spawnSync('/usr/bin/qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', BINARY_ARM64, '-version'], {
    encoding: 'utf8',
    env: {},
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, VERSION_LINE);
  assert.match(r.stdout, /\(node 24\.21\.0, arm64\)/);
});

test('the bundle runs on the pinned Node and matches the executable', () => {
  const a = spawnSync(process.execPath, [BUNDLE, '-version'], { encoding: 'utf8' });
  const b = spawnSync(BINARY_X64, ['-version'], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

test('the executable exits 2 with usage for an unknown command', () => {
  const bad = spawnSync(BINARY_X64, ['-no-such-command'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command or option: -no-such-command/);
  assert.match(bad.stderr, /^usage: waagent/m);
});

test('under systemd: the process is named waagent and INFO and above reach the journal with priorities', async () => {
  // Run against a closed loopback port (nothing listens on 9), with its own Lib.Dir and log: the agent retries,
  // logs and waits; nothing outside the temporary directory is written.
  const dir = mkdtempSync(join(tmpdir(), 'waagent-journal-'));
  try {
    const conf = join(dir, 'waagent.conf');
    writeFileSync(conf, `Lib.Dir=${dir}/lib\nLogs.File=${dir}/waagent.log\nProtocol.WireServerEndpoint=127.0.0.1:9\n`);
    const errPath = join(dir, 'stderr');
    const errFd = openSync(errPath, 'w');
    const st = fstatSync(errFd);
    const child = spawn(BINARY_X64, [`-configuration-path:${conf}`, '-run-exthandlers'], {
      stdio: ['ignore', 'ignore', errFd],
      env: { PATH: process.env.PATH, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
    });
    closeSync(errFd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // wait for the first journal line: by then the title is set and the agent is at work
    for (let i = 0; i < 200 && !readFileSync(errPath, 'utf8').includes('transport certificate'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const comm = readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
    // SIGTERM ends the HTTP client's retry waits too: the agent exits at once, not after its back-off
    const termAt = Date.now();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - termAt < 10_000, `SIGTERM took ${Date.now() - termAt} ms`);
    assert.equal(comm, 'waagent -config', 'the kernel keeps 15 bytes of the title');
    assert.match(cmdline, /^waagent -configuration-path:\S+ -run-exthandlers/);
    const journal = readFileSync(errPath, 'utf8');
    assert.match(journal, /^<6>INFO Daemon generated a new transport certificate/m);
    assert.match(journal, /^<6>INFO Daemon SIGTERM received/m);
    assert.match(journal, /^<4>WARNING Daemon the platform cannot be reached: .*the agent is stopping/m);
    assert.doesNotMatch(journal, /^\d{4}-\d\d-\d\dT/m, 'the journal has its own timestamps');
    // the log file keeps the Python agent's format
    assert.match(
      readFileSync(join(dir, 'waagent.log'), 'utf8'),
      /^\d{4}-\d\d-\d\dT\S+Z INFO Daemon generated a new transport certificate/m,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
