// The daemon's RDMA duty (docs/protocol.md §8.4, §7.1 step 5): each time the goal-state fetcher saved a different
// <Lib.Dir>/SharedConfig.xml, its RDMA address is read (fabric) and set up on this machine (src/os/rdma.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { AgentError, describeError } from '../util/errors.ts';
import { rdmaAddress } from '../fabric/documents/index.ts';
import { SHARED_CONFIG_XML } from '../fabric/goal-state.ts';
import { setupRdma, type RdmaOptions } from '../os/rdma.ts';
import type { PeriodicTask } from '../util/periodic.ts';

/** Sets RDMA up from <Lib.Dir>/SharedConfig.xml each time the fetcher saved a different one; one try per version. */
export function rdmaTask(config: Config, opts: RdmaOptions & { periodMs?: number } = {}): PeriodicTask {
  const file = join(libDirOf(config), SHARED_CONFIG_XML);
  let done: string | null = null;
  return {
    name: 'RDMA setup',
    periodMs: opts.periodMs ?? 30_000,
    async run() {
      let xml: string;
      try {
        xml = readFileSync(file, 'utf8');
      } catch {
        return; // no goal state fetched yet
      }
      if (xml === done) return;
      done = xml;
      try {
        await setupRdma(rdmaAddress(xml), opts);
      } catch (e) {
        throw new AgentError('command', `RDMA setup from ${file} failed: ${describeError(e)}`, {}, e);
      }
    },
  };
}
