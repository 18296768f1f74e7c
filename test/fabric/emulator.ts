#!/usr/bin/env node
// The fabric emulator, runnable on its own: `node test/fabric/emulator.ts --help` (pinned Node 24, which strips the
// types). Prints one line with the bound ports when ready; stops on SIGTERM/SIGINT.
import { parseCli, USAGE, UsageError } from './options.ts';
import { startFabric } from './server.ts';

async function main(): Promise<number> {
  let opts: ReturnType<typeof parseCli>;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`emulator: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let fabric: Awaited<ReturnType<typeof startFabric>>;
  try {
    fabric = await startFabric(opts);
  } catch (e) {
    process.stderr.write(`emulator: ${(e as Error).message}\n`);
    return 1;
  }
  const p = fabric.ports;
  process.stdout.write(
    `emulator: wireserver ${p.wireServer} hostplugin ${p.hostPlugin} imds ${p.imds} blob ${p.blob} scenario ${fabric.state.scenario.name}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await fabric.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`emulator: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
