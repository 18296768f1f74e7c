// DetectScvmmEnv=y with the built daemon in the sandbox: an ISO made here with VMM's linuxosconfiguration.xml and
// install script (read in user space: this kernel cannot mount ISO 9660). The script runs as upstream runs it, the
// agent does not provision or talk to the platform, waits (upstream: 5 minutes, then exit 0) and stops on SIGTERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox, WAAGENT, type Sandbox } from '../sandbox/sandbox.ts';

const INSTALL = `#!/bin/bash
# VMM's script stand-in: records how it was called and what it sees beside itself
{ printf '%s\\n' "$#" "$@"; ls "$(dirname "$0")"; } > /var/tmp/scvmm-install.out
`;

function vmmIso(sb: Sandbox, files: Record<string, string>): string {
  const src = join(sb.dir, 'vmm-src');
  mkdirSync(src);
  for (const [n, t] of Object.entries(files)) writeFileSync(join(src, n), t);
  const out = join(sb.dir, 'vmm.iso');
  const r = spawnSync('genisoimage', ['-quiet', '-J', '-R', '-o', out, src], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

test('DetectScvmmEnv=y: VMM\'s install script runs with "-p <DVD.MountPoint>", the agent stays away from the platform and exits 0 on SIGTERM', {
  timeout: 120_000,
}, async () => {
  const sb = await createSandbox();
  try {
    const emu = await sb.startEmulator();
    const iso = vmmIso(sb, { 'linuxosconfiguration.xml': '<LinuxOSConfiguration/>\n', install: INSTALL, 'vmm-agent.tar': 'payload' });
    sb.writeConfig({ DetectScvmmEnv: 'y', 'DVD.Device': iso });
    const child = sb.spawn([WAAGENT, '-daemon']);
    child.stdout!.resume();
    child.stderr!.resume();
    const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    const out = await waitFor('the install script', async () => {
      const r = await sb.exec(['cat', '/var/tmp/scvmm-install.out']);
      return r.code === 0 && r.stdout.includes('install') ? r.stdout : null;
    });
    assert.equal(out, ['1', '-p /mnt/cdrom/secure', 'install', 'linuxosconfiguration.xml', 'vmm-agent.tar', ''].join('\n'));
    const log = await waitFor('"Exiting" in the log', async () => {
      const text = sb.readFile('/var/log/waagent.log');
      return text.includes('Exiting') ? text : null;
    });
    assert.match(log, /Detecting Microsoft System Center VMM Environment/);
    assert.match(log, /Starting Microsoft System Center VMM Initialization Process/);
    await sleep(2000);
    assert.deepEqual(await emu.requests(), [], 'no request to the platform: the agent does not provision');
    assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/provisioned'])).code, 1);
    const pid = Number((await sb.exec(['cat', '/var/run/waagent.pid'])).stdout.trim());
    assert.ok(pid > 0);
    const t = performance.now();
    assert.equal((await sb.exec(['kill', '-TERM', String(pid)])).code, 0);
    assert.equal(await exited, 0);
    assert.ok(performance.now() - t < 10_000, 'SIGTERM ends the 5-minute wait');
  } finally {
    await sb.close();
  }
});
