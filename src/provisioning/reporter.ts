// How provisioning tells the world (docs/protocol.md §3.1, §4.4; docs/peers.md §7): health reports to the WireServer
// for the goal state's incarnation, container and role instance, and a Hyper-V KVP PROVISIONING_REPORT record,
// which the host can read even when the WireServer cannot be reached. A failure is reported from the error itself
// (provisioning/failure-report.ts): the same sentence, kind and context in the health report and the KVP record.
import { describeError, type AgentError } from '../util/errors.ts';
import type { FullGoalState } from '../fabric/goal-state.ts';
import type { PlatformSession } from '../fabric/session.ts';
import { log } from '../log/logger.ts';
import { describeFailure, failureReport } from './failure-report.ts';
import { writeProvisioningReport, type AppendOptions } from './kvp.ts';

/** A failure report must not keep the command waiting for a WireServer that is gone. */
export const FAILURE_REPORT_DEADLINE_MS = 60_000;

export interface Reporter {
  notReady(session: PlatformSession, gs: FullGoalState): Promise<void>;
  /** Re-reads the goal state (its incarnation may have moved on meanwhile) and reports Ready for it. */
  ready(session: PlatformSession, gs: FullGoalState): Promise<void>;
  /** NotReady/ProvisioningFailed with the error's sentence, kind and context, and the KVP failure record. */
  failed(session: PlatformSession | null, gs: FullGoalState | null, error: AgentError, vmId: string): Promise<void>;
  kvpSuccess(vmId: string): Promise<void>;
}

function ids(gs: FullGoalState) {
  return { incarnation: gs.incarnation, containerId: gs.containerId, roleInstanceId: gs.roleInstanceId };
}

async function kvp(fields: Parameters<typeof writeProvisioningReport>[0], opts: AppendOptions): Promise<void> {
  try {
    await writeProvisioningReport(fields, opts);
  } catch (e) {
    // the KVP pool is an extra channel: its failure is logged, never the reason provisioning fails
    log.warn(`the KVP provisioning report was not written: ${describeError(e)}`);
  }
}

export function createReporter(kvpOptions: AppendOptions = {}): Reporter {
  return {
    async notReady(session, gs) {
      await session.wire.reportHealth({ ...ids(gs), state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' });
    },
    async ready(session, gs) {
      let current = gs;
      try {
        current = (await session.fetcher.fetch()).goalState;
      } catch (e) {
        log.warn(
          `the goal state could not be read again before reporting Ready (${describeError(e)}); using incarnation ${gs.incarnation}`,
        );
      }
      await session.wire.reportHealth({ ...ids(current), state: 'Ready' });
    },
    async failed(session, gs, error, vmId) {
      const report = failureReport(error);
      await kvp({ vmId, reason: report.reason, details: report.supportingData }, kvpOptions);
      if (!session || !gs) {
        log.error(`provisioning failed and could not be reported to the WireServer: ${report.reason}`);
        return;
      }
      try {
        const description = describeFailure(report);
        await session.wire.reportHealth(
          { ...ids(gs), state: 'NotReady', subStatus: 'ProvisioningFailed', description },
          FAILURE_REPORT_DEADLINE_MS,
        );
      } catch (e) {
        log.error(`provisioning failed (${report.reason}), and reporting it failed too: ${describeError(e)}`);
      }
    },
    async kvpSuccess(vmId) {
      await kvp({ vmId }, kvpOptions);
    },
  };
}
