// Extensions.WaitForCloudInit (docs/protocol.md §7.1 loop step 4): before extensions are processed the first time,
// `cloud-init status --wait`, bounded by Extensions.WaitForCloudInitTimeout (read as the number of seconds it is
// meant to be; upstream reads it as a switch, §10 item 37). Whatever the outcome — done, failed, timed out, no
// cloud-init — it is waited for only once per process, and extensions go ahead (some may then conflict with it).
import type { Config } from '../config/index.ts';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { run } from '../os/exec.ts';
import { OPERATION } from '../telemetry/event.ts';
import { telemetry } from '../telemetry/recorder.ts';

/** upstream _wait_for_cloud_init's CloudInit event when the wait did not end well. */
const CLOUD_INIT_FAILED =
  'An error occurred while waiting for cloud-init; will proceed to execute VM extensions. Extensions that have conflicts with cloud-init may fail.';

/** A function to await before each extension processing: it waits the first time only, and only when enabled. */
export function cloudInitGate(config: Config): () => Promise<void> {
  let done = !config.bool('Extensions.WaitForCloudInit');
  return async () => {
    if (done) return;
    done = true;
    const timeoutS = config.int('Extensions.WaitForCloudInitTimeout');
    log.info(`waiting for cloud-init to complete (at most ${timeoutS} s)...`);
    telemetry.addEvent({ op: OPERATION.cloudInit, isSuccess: true, message: 'Waiting for cloud-init to complete...' });
    const failed = (why: string) =>
      telemetry.addEvent({ op: OPERATION.cloudInit, isSuccess: false, message: `${CLOUD_INIT_FAILED}\n${why}` }, { logEvent: false });
    try {
      const r = await run(['cloud-init', 'status', '--wait'], {
        timeoutMs: timeoutS * 1000,
        allowFailure: true,
        allowTimeout: true,
        processGroup: true,
      });
      const output = `${r.stdout}${r.stderr}`.trim();
      if (r.timedOut) {
        log.error(
          `cloud-init did not complete within ${timeoutS} s; processing extensions anyway (those that conflict with cloud-init may fail)`,
        );
        failed(`cloud-init status --wait did not complete within ${timeoutS} s`);
      } else if (r.code !== 0) {
        log.error(
          `cloud-init status --wait exited with code ${r.code}; processing extensions anyway (those that conflict with cloud-init may fail): ${output}`,
        );
        failed(`cloud-init status --wait exited with code ${r.code}: ${output}`);
      } else {
        log.info(`cloud-init completed: ${output}`);
        telemetry.addEvent({ op: OPERATION.cloudInit, isSuccess: true, message: `cloud-init completed\n${output}` });
      }
    } catch (e) {
      log.error(
        `cannot wait for cloud-init (${describeError(e)}); processing extensions anyway (those that conflict with cloud-init may fail)`,
      );
      failed(describeError(e));
    }
  };
}
