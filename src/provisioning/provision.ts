// The provisioning phase (docs/protocol.md §4.4, §10 items 26–35): decide who provisions, read ovf-env.xml,
// apply it, and report. Work that does not depend on the goal state (host keys, the hostname, the account) runs
// while the goal state and certificates are fetched; NotReady/Provisioning is sent as soon as the goal state is
// known and always before Ready, which is sent only after the `provisioned` marker is written (§10 item 26).
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { describeError, toAgentError, type AgentError } from '../util/errors.ts';
import type { FullGoalState } from '../fabric/goal-state.ts';
import { openPlatformSession, type PlatformSession } from '../fabric/session.ts';
import { log } from '../log/logger.ts';
import { deferDirectorySyncs, flushDirectorySyncs, writeFileAtomicAsync } from '../os/atomic-file.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { applyAccount, applyCertificateKeys } from './apply-account.ts';
import { changedVmCleanup } from './changed-vm-cleanup.ts';
import { decideProvisioner, type Provisioner } from './cloud-init.ts';
import { waitForCloudInit } from './cloud-init-wait.ts';
import { handleCustomData } from './custom-data.ts';
import { describeFailure, failureReport } from './failure-report.ts';
import { fingerprintKeyType, hostKeyFingerprint, prepareHostKeys } from './host-keys.ts';
import { publishHostname, setHostname } from './hostname.ts';
import { readOvfEnv, type MediaOptions } from './media/read-ovf-env.ts';
import { parseOvfEnv, redactOvfEnv, type OvfEnv } from './ovf-env.ts';
import {
  clearHostKeysPending,
  clearReadyPending,
  pendingHostKeyTypes,
  isReadyPending,
  provisionedState,
  readProvisionedMarker,
  writeDisableAgent,
  writeProvisionedMarker,
} from './provisioned-marker.ts';
import { createReporter, type Reporter } from './reporter.ts';
import { deleteRootPassword } from './root-password.ts';
import { reloadSshd } from './sshd-reload.ts';
import { readVmId } from './vm-id.ts';
import { monotonicNow } from '../util/clock.ts';

/** No request of the provisioning phase starts after this (the Python agent has no bound at all). */
export const PROTOCOL_DEADLINE_MS = 5 * 60_000;
export const OVF_ENV_COPY = 'ovf-env.xml';

export type ProvisionResult =
  | { outcome: 'already-provisioned' }
  | { outcome: 'ready'; provisioner: Provisioner | 'changed-vm' | 'resumed'; elapsedMs: number; fingerprint?: string }
  /** reason: the error's sentence, redacted */
  | { outcome: 'failed'; error: AgentError; reason: string; elapsedMs: number };

export interface ProvisionDeps {
  media?: MediaOptions;
  reporter?: Reporter;
  /** default: the DMI product uuid or dmidecode */
  readVmId?: () => Promise<string>;
  cloudInitEnabled?: () => Promise<boolean>;
  /** bounds of the cloud-init waits (default 1800 s each, as upstream) */
  cloudInitWaitMs?: number;
}

async function vmIdOrEmpty(deps: ProvisionDeps): Promise<string> {
  try {
    return await (deps.readVmId ?? readVmId)();
  } catch (e) {
    // As upstream: without an id, an existing marker counts as this VM's, and a new one is written empty.
    log.warn(`${describeError(e)}; the provisioned marker cannot name this VM`);
    return '';
  }
}

/** Runs `fn`, and whichever way it ends, waits for every task it started before passing its outcome on. */
class Tasks {
  readonly #started: Promise<unknown>[] = [];
  start<T>(p: Promise<T>): Promise<T> {
    this.#started.push(p.catch(() => undefined));
    return p;
  }
  async drain(): Promise<void> {
    await Promise.all(this.#started);
  }
}

function saveOvfEnvCopy(config: Config, xml: string): Promise<void> {
  // 0600 and without the password (§4.3, §10 item 29): -deprovision+user and cloud-init read it later.
  return writeFileAtomicAsync(join(libDirOf(config), OVF_ENV_COPY), redactOvfEnv(xml), { mode: 0o600, mkdir: true });
}

/** Makes the host keys a stopped provisioning left pending, puts them in place and reloads sshd; a failure is logged. */
async function finishPendingHostKeys(config: Config, profile: DistroProfile, types: string[]): Promise<void> {
  log.info(`the SSH host keys ${types.join(', ')} were not made before the agent stopped; making them now`);
  const keys = prepareHostKeys(config, types);
  try {
    await keys.install();
    await reloadSshd({ profile });
    clearHostKeysPending(config);
    if (types.includes(fingerprintKeyType(config))) log.info(`SSH host key fingerprint ${hostKeyFingerprint(config)}`);
  } catch (e) {
    log.error(`the pending SSH host keys (${types.join(', ')}) could not be made: ${describeError(e)}`);
  } finally {
    await keys.discard();
  }
}

export async function runProvisioning(config: Config, profile: DistroProfile, deps: ProvisionDeps = {}): Promise<ProvisionResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const reporter = deps.reporter ?? createReporter();
  const marker = readProvisionedMarker(config);
  // No marker: a new VM. Its host keys (the long pole) start now, into a private directory, before anything is
  // known of the media or who provisions; they go into place only when this agent provisions (prepareHostKeys).
  const earlyKeys = marker === null ? prepareHostKeys(config) : null;
  const vmIdP = vmIdOrEmpty(deps);
  if (marker !== null && provisionedState(config, await vmIdP) === 'same-vm') {
    // Host keys a provisioning left to make (stopped after Ready, before its RSA key was in place): made now.
    const pendingKeys = pendingHostKeyTypes(config);
    if (pendingKeys.length > 0) await finishPendingHostKeys(config, profile, pendingKeys);
    if (!isReadyPending(config)) {
      if (pendingKeys.length > 0) return { outcome: 'ready', provisioner: 'resumed', elapsedMs: elapsed() };
      log.info('provisioning already completed for this VM; nothing to do');
      return { outcome: 'already-provisioned' };
    }
    // Killed after the marker and before Ready reached the platform: only the report is left to do (nothing that
    // was done once runs again: no user, key or host key step).
    log.info('provisioning completed for this VM but Ready was not reported; reporting it now');
    try {
      const session = await openPlatformSession(config, {
        deadline: monotonicNow() + PROTOCOL_DEADLINE_MS,
        leaseGlobs: profile.leaseGlobs,
      });
      try {
        await reporter.ready(session, (await session.fetcher.fetch()).goalState);
      } finally {
        await session.close();
      }
      clearReadyPending(config);
      return { outcome: 'ready', provisioner: 'resumed', elapsedMs: elapsed() };
    } catch (e) {
      const error = toAgentError(e);
      log.error(`the pending Ready report could not be sent: ${describeError(e)}`);
      return { outcome: 'failed', error, reason: failureReport(error).reason, elapsedMs: elapsed() };
    }
  }

  // what is known of the platform so far, for the failure report
  const known: { session: PlatformSession | null; gs: FullGoalState | null; failed: boolean } = { session: null, gs: null, failed: false };
  const tasks = new Tasks();
  const connect = async (): Promise<{ session: PlatformSession; gs: FullGoalState }> => {
    try {
      known.session ??= await openPlatformSession(config, {
        deadline: monotonicNow() + PROTOCOL_DEADLINE_MS,
        leaseGlobs: profile.leaseGlobs,
      });
      const session = known.session;
      const gs = (await session.fetcher.fetch()).goalState;
      known.gs = gs;
      return { session, gs };
    } catch (e) {
      known.failed = true;
      throw e;
    }
  };
  try {
    if (marker !== null) {
      // §4.4 step 1: an image captured without deprovisioning. Forget the old VM, then Ready for this one.
      const vmId = await vmIdP;
      log.info(`the provisioned marker names VM ${marker}, this is VM ${vmId}`);
      changedVmCleanup(config);
      const c = await connect();
      writeProvisionedMarker(config, vmId, { readyPending: true });
      await reporter.ready(c.session, c.gs);
      clearReadyPending(config);
      return { outcome: 'ready', provisioner: 'changed-vm', elapsedMs: elapsed() };
    }

    const provisioner = await decideProvisioner(config, deps.cloudInitEnabled);
    log.info(`provisioning by ${provisioner}`);
    if (provisioner !== 'waagent') await earlyKeys?.discard();
    if (provisioner === 'disabled') {
      const c = await connect();
      writeProvisionedMarker(config, await vmIdP);
      await reporter.ready(c.session, c.gs);
      return { outcome: 'ready', provisioner, elapsedMs: elapsed() };
    }
    if (provisioner === 'cloud-init') {
      const env = await waitForCloudInit(config, 'ovf-env', deps.cloudInitWaitMs);
      const c = await connect();
      const notReady = tasks.start(reporter.notReady(c.session, c.gs));
      await waitForCloudInit(config, 'host-key', deps.cloudInitWaitMs);
      writeProvisionedMarker(config, await vmIdP, { readyPending: true });
      if (env && !env.provisionGuestAgent) writeDisableAgent(config);
      await notReady;
      await reporter.ready(c.session, c.gs);
      clearReadyPending(config);
      await reporter.kvpSuccess(await vmIdP);
      return { outcome: 'ready', provisioner, elapsedMs: elapsed() };
    }

    // when each chain ended, in ms since the process started (one log line at Ready: the long pole shows)
    const phases: [string, number][] = [['start', Math.round(started)]];
    const mark =
      (name: string) =>
      <T>(v: T): T => {
        phases.push([name, Math.round(performance.now())]);
        return v;
      };
    // The platform chain does not depend on the media: it starts first (a failure of the media is reported
    // through it anyway). NotReady/Provisioning waits for the media, as before.
    // the directories' fsyncs all at once, on the thread pool, before the marker (the commit point) is written
    deferDirectorySyncs();
    const platform = tasks.start(connect().then(mark('platform chain')));
    const media = mark('media')(await readOvfEnv(config, deps.media));
    log.info(`ovf-env.xml read from ${media.source}`);
    const env: OvfEnv = parseOvfEnv(media.xml);
    const ovfEnvCopy = tasks.start(saveOvfEnvCopy(config, media.xml));

    // Independent work: the platform, host keys, the hostname and the account, side by side.
    const notReady = tasks.start(platform.then((c) => reporter.notReady(c.session, c.gs)));
    const keys = earlyKeys ?? prepareHostKeys(config);
    const hostKeys = tasks.start(keys.install().then(mark('host keys')));
    const hostname = tasks.start(
      (async () => {
        await setHostname(env.hostname, { profile });
        await publishHostname(config, env.hostname, { profile });
      })(),
    );
    const account = tasks.start(applyAccount(config, env).then(mark('account chain')));

    const owner = await account;
    await platform; // the certificates are in Lib.Dir now
    await applyCertificateKeys(config, env, owner);
    await handleCustomData(config, env.customData);
    if (config.bool('Provisioning.DeleteRootPassword')) deleteRootPassword(config);
    await hostKeys;
    // with `auto` the RSA key (the fingerprint's type) follows after Ready: its fingerprint is logged then
    const fingerprintLater = keys.deferred.includes(fingerprintKeyType(config));
    let fingerprint = fingerprintLater ? undefined : hostKeyFingerprint(config);
    if (fingerprint) log.info(`SSH host key fingerprint ${fingerprint}`);
    // An sshd that cannot be brought up with the new host keys leaves a VM nobody can log in to: that fails
    // provisioning (ProvisioningFailed with systemd's reason), it is not reported Ready (docs/image-building.md).
    await reloadSshd({ profile });
    await hostname;
    await ovfEnvCopy;

    const vmId = await vmIdP;
    await flushDirectorySyncs();
    writeProvisionedMarker(config, vmId, { readyPending: true, hostKeysPending: keys.deferred });
    if (!env.provisionGuestAgent) {
      log.info('ProvisionGuestAgent is false: the agent stops after provisioning (disable_agent)');
      writeDisableAgent(config);
    }
    await notReady;
    const c = await platform;
    await reporter.ready(c.session, c.gs);
    clearReadyPending(config);
    mark('Ready')(null);
    if (keys.deferred.length > 0) {
      // the keys left out of Ready (host-keys.ts DEFERRED_WITH_AUTO): in place, sshd reloaded, no longer pending
      try {
        await keys.installDeferred();
        await reloadSshd({ profile });
        clearHostKeysPending(config);
        mark(`${keys.deferred.join(', ')} host key after Ready`)(null);
        if (fingerprintLater) {
          fingerprint = hostKeyFingerprint(config);
          log.info(`SSH host key fingerprint ${fingerprint}`);
        }
      } catch (e) {
        log.error(
          `the SSH host keys that follow Ready (${keys.deferred.join(', ')}) failed, the next start tries again: ${describeError(e)}`,
        );
      }
    }
    await reporter.kvpSuccess(vmId);
    log.info(`provisioning finished in ${elapsed()} ms`);
    log.info(`provisioning phases, ms since the process started: ${phases.map(([n, t]) => `${n} ${t}`).join(', ')}`);
    return { outcome: 'ready', provisioner, elapsedMs: elapsed(), fingerprint };
  } catch (e) {
    await tasks.drain();
    const error = toAgentError(e);
    const report = failureReport(error);
    log.error(`provisioning failed: ${describeFailure(report)}`);
    if (!known.gs && !known.failed) {
      // The failure came before the platform was asked (media, ovf-env): reach it now to say so.
      try {
        await connect();
      } catch (ce) {
        log.warn(`the WireServer cannot be reached to report the failure: ${describeError(ce)}`);
      }
    }
    await reporter.failed(known.session, known.gs, error, await vmIdP);
    return { outcome: 'failed', error, reason: report.reason, elapsedMs: elapsed() };
  } finally {
    await tasks.drain();
    await flushDirectorySyncs();
    await earlyKeys?.discard(); // removes the temporary keys whatever happened; installed ones are in OS.SshDir
    await known.session?.close();
  }
}
