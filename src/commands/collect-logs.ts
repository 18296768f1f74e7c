// -collect-logs [-full]: a zip of the agent's logs and state for a support case (src/daemon/log-collector.ts),
// written where the Python agent's log collector puts it (<Lib.Dir>/logcollector/logs.zip, with results.txt).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { collectLogs } from '../daemon/log-collector.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';
import type { Invocation } from './invocation.ts';

export interface CollectLogsOptions {
  output?: NodeJS.WritableStream;
}

export async function collectLogsCommand(config: Config, inv: Invocation, opts: CollectLogsOptions = {}): Promise<number> {
  const lib = libDirOf(config);
  const outDir = join(lib, 'logcollector');
  const r = collectLogs(config, inv.full);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const zipPath = join(outDir, 'logs.zip');
  writeFileAtomic(zipPath, r.zip, { mode: 0o600 });
  writeFileAtomic(join(outDir, 'results.txt'), [...r.included, '', ...r.skipped.map((s) => `left out ${s}`), ''].join('\n'), {
    mode: 0o600,
  });
  const msg = `wrote ${zipPath}: ${r.included.length} files, ${r.zip.length} bytes${r.skipped.length ? `, ${r.skipped.length} left out (see results.txt)` : ''}`;
  log.info(`collect-logs: ${msg}`);
  (opts.output ?? process.stdout).write(msg + '\n');
  return 0;
}
