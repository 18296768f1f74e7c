// The demo of scripts/demo.sh: a fresh sandbox, the fabric emulator inside, and the built agent run against it.
// Prints what happens. A command the agent does not have yet is reported, not fatal.
import { REPO_ROOT } from '../helpers/paths.ts';
import { WAAGENT, withSandbox, type ExecResult } from './sandbox.ts';

function show(title: string, argv: string[], r: ExecResult): void {
  process.stdout.write(`\n=== ${title}: ${argv.join(' ')} (exit ${r.code})\n`);
  if (r.stdout) process.stdout.write(r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`);
  if (r.stderr) process.stdout.write(r.stderr.split('\n').filter(Boolean).map((l) => `stderr| ${l}\n`).join(''));
}

async function main(): Promise<number> {
  return withSandbox(async (sb) => {
    const emu = await sb.startEmulator();
    const conf = sb.writeConfig();
    process.stdout.write(`sandbox: ${sb.dir} (own mount, UTS, network and pid namespaces; loopback only)\n`);
    process.stdout.write(`emulator: WireServer ${emu.wireServer}, HostGAPlugin port ${emu.hostPluginPort}, IMDS ${emu.imds}, blob ${emu.blob}\n`);
    process.stdout.write(`configuration: ${conf}\n${sb.readFile(conf).replace(/^/gm, '  ')}`);

    let failed = 0;
    for (const [title, args] of [['version', ['-version']], ['configuration', ['-show-configuration']]] as const) {
      const argv = [WAAGENT, ...args];
      const r = await sb.exec(argv, { cwd: REPO_ROOT });
      show(title, argv, r);
      if (r.code !== 0) failed++;
    }
    const argv = [WAAGENT, '-goal-state'];
    const gs = await sb.exec(argv, { timeoutMs: 120_000 });
    show('goal state', argv, gs);
    if (gs.code !== 0 && /not implemented|unknown command/.test(gs.stderr)) {
      process.stdout.write('note: -goal-state is not implemented yet; that is expected at this stage\n');
    } else if (gs.code !== 0) failed++;

    const reqs = await emu.requests();
    process.stdout.write(`\n=== the emulator saw ${reqs.length} request(s)\n`);
    for (const r of reqs) process.stdout.write(`  ${r.service} ${r.method} ${r.path} -> ${r.status}\n`);
    const reports = await emu.healthReports();
    if (reports.length) process.stdout.write(`health reports: ${reports.map((h) => h.state).join(', ')}\n`);
    return failed;
  }).then((failed) => {
    process.stdout.write(`\ndemo ${failed ? `finished with ${failed} failing command(s)` : 'finished'}; the sandbox is gone, the host untouched\n`);
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
