// Extensions.WaitForCloudInit (docs/protocol.md §7.1 loop step 4): before extensions are processed the first time,
// `cloud-init status --wait`, bounded by Extensions.WaitForCloudInitTimeout (read as the number of seconds it is
// meant to be; upstream reads it as a switch, §10 item 37). Whatever the outcome — done, failed, timed out, no
// cloud-init — it is waited for only once per process, and extensions go ahead (some may then conflict with it).
import type { Config } from '../config/index.ts';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { run } from '../os/exec.ts';

/** A function to await before each extension processing: it waits the first time only, and only when enabled. */
export function cloudInitGate(config: Config): () => Promise<void> {
  let done = !config.bool('Extensions.WaitForCloudInit');
  return async () => {
    if (done) return;
    done = true;
    const timeoutS = config.int('Extensions.WaitForCloudInitTimeout');
    log.info(`waiting for cloud-init to complete (at most ${timeoutS} s)...`);
    try {
      const r = await run(['cloud-init', 'status', '--wait'], {
        timeoutMs: timeoutS * 1000,
        allowFailure: true,
        allowTimeout: true,
        processGroup: true,
      });
      const output = `${r.stdout}${r.stderr}`.trim();
      if (r.timedOut)
        log.error(
          `cloud-init did not complete within ${timeoutS} s; processing extensions anyway (those that conflict with cloud-init may fail)`,
        );
      else if (r.code !== 0)
        log.error(
          `cloud-init status --wait exited with code ${r.code}; processing extensions anyway (those that conflict with cloud-init may fail): ${output}`,
        );
      else log.info(`cloud-init completed: ${output}`);
    } catch (e) {
      log.error(
        `cannot wait for cloud-init (${describeError(e)}); processing extensions anyway (those that conflict with cloud-init may fail)`,
      );
    }
  };
}
