// waagent -provision (ours, docs/contract.md §3): the provisioning phase once. Exit 0 when Ready was reported (or the
// VM was provisioned already), 1 when provisioning failed (NotReady/ProvisioningFailed was reported). The Provision
// telemetry event is queued in <Lib.Dir>/events as the daemon queues it (upstream provisions inside its daemon); the
// daemon sends it later, and does not queue another, since it finds the VM provisioned.
import type { Invocation } from './invocation.ts';
import type { Config } from '../config/index.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { runProvisioning } from '../provisioning/provision.ts';
import { recordProvisioning, startTelemetry } from '../daemon/telemetry.ts';

export async function provisionCommand(config: Config, _inv: Invocation, profile: DistroProfile): Promise<number> {
  startTelemetry(config);
  const r = await runProvisioning(config, profile);
  recordProvisioning(r);
  switch (r.outcome) {
    case 'already-provisioned':
      process.stdout.write('provisioning: already done for this VM; nothing to do\n');
      return 0;
    case 'ready':
      process.stdout.write(
        `provisioning: Ready reported (${r.provisioner}, ${r.elapsedMs} ms)${r.fingerprint ? `; host key ${r.fingerprint}` : ''}\n`,
      );
      return 0;
    case 'failed':
      process.stderr.write(`waagent: provisioning failed: ${r.reason}\n`);
      return 1;
  }
}
