// The demo of scripts/demo.sh: a fresh sandbox, the fabric emulator inside, and the built agent run against it:
// a VM provisioned from a UDF media image (user, password, sudo, sshd, keys, hostname, Ready), then a second
// run that has nothing to do, then `waagent -daemon` in the background for a few goal-state / status cycles,
// stopped with SIGTERM. Prints every step and what the emulator heard.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeVmId, ovfEnvXml, udfMedia } from '../helpers/provisioning.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { WAAGENT, withSandbox, type EmulatorHandle, type ExecResult, type Sandbox } from './sandbox.ts';

function show(title: string, argv: string[], r: ExecResult): void {
  process.stdout.write(`\n=== ${title}: ${argv.join(' ')} (exit ${r.code})\n`);
  if (r.stdout) process.stdout.write(r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`);
  if (r.stderr)
    process.stdout.write(
      r.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => `stderr| ${l}\n`)
        .join(''),
    );
}

/** The daemon in the background for a few cycles (Extensions.GoalStatePeriod=1), then SIGTERM; true when it went well. */
async function daemonCycles(sb: Sandbox, emu: EmulatorHandle, media: string): Promise<boolean> {
  sb.writeConfig({ 'DVD.Device': media, 'Extensions.GoalStatePeriod': '1', 'Extensions.InitialGoalStatePeriod': '1' });
  const logFrom = sb.readFile('/var/log/waagent.log').length;
  const uploadsFrom = (await emu.statusUploads()).length;
  const requestsFrom = (await emu.requests()).length;
  const argv = [WAAGENT, '-daemon'];
  process.stdout.write(`\n=== the daemon in the background: ${argv.join(' ')} (Extensions.GoalStatePeriod=1), for 5 s\n`);
  const child = sb.spawn(argv, { cwd: REPO_ROOT });
  child.stdout!.resume();
  child.stderr!.resume();
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  await sleep(5_000);
  const pid = (await sb.exec(['cat', '/var/run/waagent.pid'])).stdout.trim();
  process.stdout.write(`pid file /var/run/waagent.pid: ${pid || '(none)'}\n`);
  const t = performance.now();
  if (pid) await sb.exec(['kill', '-TERM', pid]);
  const code = await Promise.race([exited, sleep(15_000).then(() => null)]);
  process.stdout.write(
    `SIGTERM: ${code === null ? 'still running after 15 s' : `exit ${code} after ${Math.round(performance.now() - t)} ms`}\n`,
  );
  if (code === null) child.kill('SIGKILL');

  process.stdout.write('\n=== what the daemon logged\n');
  process.stdout.write(sb.readFile('/var/log/waagent.log').slice(logFrom).replace(/^/gm, '  '));
  const uploads = (await emu.statusUploads()).slice(uploadsFrom);
  process.stdout.write(`\n=== the emulator received ${uploads.length} status upload(s) from the daemon\n`);
  for (const u of uploads) {
    let summary = '';
    try {
      const doc = JSON.parse(u.content) as { aggregateStatus?: { guestAgentStatus?: { status?: string; version?: string } } };
      summary = `guest agent ${doc.aggregateStatus?.guestAgentStatus?.status} (version ${doc.aggregateStatus?.guestAgentStatus?.version})`;
    } catch {
      summary = 'not JSON';
    }
    process.stdout.write(`  ${u.time} via ${u.via} ${u.blobType} ${u.content.length} bytes: ${summary}\n`);
  }
  const byPath = new Map<string, number>();
  for (const r of (await emu.requests()).slice(requestsFrom)) {
    const u = new URL(r.path, 'http://emulator');
    const query = ['comp', 'type']
      .filter((k) => u.searchParams.has(k))
      .map((k) => `${k}=${u.searchParams.get(k)}`)
      .join('&');
    const key = `${r.service} ${r.method} ${u.pathname.replace(/^\/machine\/[^/]+\/[^/]+$/, '/machine/<container>/<role>')}${query ? `?${query}` : ''}`;
    byPath.set(key, (byPath.get(key) ?? 0) + 1);
  }
  process.stdout.write('requests during the daemon run:\n');
  for (const [k, n] of byPath) process.stdout.write(`  ${n} x ${k}\n`);
  const gone = (await sb.exec(['test', '-e', '/var/run/waagent.pid'])).code !== 0;
  process.stdout.write(`pid file after the stop: ${gone ? 'removed' : 'still there'}\n`);
  return code === 0 && uploads.length > 0 && gone;
}

async function main(): Promise<number> {
  return withSandbox(
    async (sb) => {
      const emu = await sb.startEmulator();
      await fakeVmId(sb, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
      await sb.exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'demo', '-f', join(sb.dir, 'demo-key')]);
      const key = readFileSync(join(sb.dir, 'demo-key.pub'), 'utf8').trim();
      const media = udfMedia(
        sb,
        ovfEnvXml({
          hostname: 'demo-vm',
          user: 'azureuser',
          password: 'Demo-passw0rd',
          publicKeys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', value: key }],
        }),
      );
      const conf = sb.writeConfig({ 'DVD.Device': media });
      process.stdout.write(`sandbox: ${sb.dir} (own mount, UTS, network and pid namespaces; loopback only)\n`);
      process.stdout.write(
        `emulator: WireServer ${emu.wireServer}, HostGAPlugin port ${emu.hostPluginPort}, IMDS ${emu.imds}, blob ${emu.blob}\n`,
      );
      process.stdout.write(`provisioning media: ${media} (UDF, made by genisoimage -udf)\n`);
      process.stdout.write(`configuration: ${conf}\n${sb.readFile(conf).replace(/^/gm, '  ')}`);

      let failed = 0;
      const step = async (title: string, args: string[], timeoutMs = 120_000) => {
        const argv = [WAAGENT, ...args];
        const r = await sb.exec(argv, { cwd: REPO_ROOT, timeoutMs });
        show(title, argv, r);
        if (r.code !== 0) failed++;
        return r;
      };
      await step('version', ['-version']);
      await step('provisioning', ['-provision']);
      process.stdout.write('\n=== what provisioning logged (/var/log/waagent.log)\n');
      process.stdout.write(sb.readFile('/var/log/waagent.log').replace(/^/gm, '  '));
      const facts = await sb.exec([
        'sh',
        '-c',
        'hostname; getent passwd azureuser; cat /etc/sudoers.d/waagent; cat /var/lib/waagent/provisioned; echo',
      ]);
      process.stdout.write(`\n=== the VM now\n${facts.stdout.replace(/^/gm, '  ')}`);
      await step('provisioning again (same VM: nothing to do)', ['-provision']);
      await step('goal state', ['-goal-state']);

      const reqs = await emu.requests();
      process.stdout.write(`\n=== the emulator saw ${reqs.length} request(s)\n`);
      for (const r of reqs) process.stdout.write(`  ${r.service} ${r.method} ${r.path} -> ${r.status}\n`);
      const reports = await emu.healthReports();
      process.stdout.write(
        `health reports: ${reports.map((h) => `${h.state}${h.subStatus ? `/${h.subStatus}` : ''} (incarnation ${h.incarnation})`).join(', ')}\n`,
      );

      if (!(await daemonCycles(sb, emu, media))) failed++;
      const after = await emu.healthReports();
      process.stdout.write(`health reports after the daemon: ${after.length - reports.length} new (provisioning is not redone)\n`);
      return failed;
    },
    { hostname: 'unprovisioned' },
  ).then((failed) => {
    process.stdout.write(
      `\ndemo ${failed ? `finished with ${failed} failing command(s)` : 'finished'}; the sandbox is gone, the host untouched\n`,
    );
    return failed ? 1 : 0;
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
