// The heartbeats of upstream's monitor thread, sent by the built daemon against the emulator: GET /health on the
// HostGAPlugin and GET /metadata/instance on IMDS, each followed by a HealthService observation on the WireServer;
// a HostGAPlugin that answers 500 is still reported healthy (its grace is 5 minutes: test/unit/daemon/heartbeats.test.ts);
// one that does not answer at all is reported as telemetry (HostPluginHeartbeat, HttpErrors), with the start-up events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox, WAAGENT } from '../sandbox/sandbox.ts';
import type { TelemetryBatch } from '../fabric/types.ts';

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

test('daemon: the HostGAPlugin and IMDS heartbeats and their HealthService observations, in upstream format', {
  timeout: 120_000,
}, async () => {
  const sb = await createSandbox();
  try {
    const emu = await sb.startEmulator();
    await emu.setFaults([{ kind: 'status', status: 500, service: 'hostplugin', path: '^/health$' }]);
    sb.writeConfig({ 'Provisioning.Agent': 'disabled', 'Extensions.GoalStatePeriod': '1', 'Extensions.InitialGoalStatePeriod': '1' });
    const child = sb.spawn([WAAGENT, '-daemon']);
    child.stdout!.resume();
    child.stderr!.resume();
    const reports = await waitFor('two HealthService reports', async () => {
      const r = await emu.control.healthObservations();
      return r.length >= 2 ? r : null;
    });
    const requests = await emu.requests();
    const health = requests.filter((q) => q.service === 'hostplugin' && q.path === '/health');
    assert.equal(health.length, 1, 'one /health per minute, one attempt');
    assert.equal(health[0]!.method, 'GET');
    assert.equal(health[0]!.status, 500);
    const imds = requests.filter((q) => q.service === 'imds' && q.path.startsWith('/metadata/instance?'));
    assert.equal(imds.length, 1, 'one IMDS heartbeat per minute');
    assert.equal(imds[0]!.path, '/metadata/instance?api-version=2018-02-01');
    assert.equal(imds[0]!.headers.metadata, 'True');
    assert.equal(imds[0]!.headers['user-agent'], 'WALinuxAgent/2.15.0.1+health');
    assert.equal(imds[0]!.status, 200);
    const posts = requests.filter((q) => q.service === 'wireserver' && q.path === '/HealthService');
    assert.equal(posts.length, 2);
    for (const p of posts) {
      assert.equal(p.method, 'POST');
      assert.equal(p.headers['content-type'], 'application/json');
      assert.equal(p.status, 200);
    }
    assert.deepEqual(
      reports.map((r) => ({ api: r.api, source: r.source, error: r.error, observations: r.observations })),
      [
        {
          api: 'reporttargethealth',
          source: 'WALinuxAgent',
          error: undefined,
          observations: [{ name: 'GuestAgentPluginHeartbeat', isHealthy: true, description: '', value: '' }],
        },
        {
          api: 'reporttargethealth',
          source: 'WALinuxAgent',
          error: undefined,
          observations: [{ name: 'InstanceMetadataHeartbeat', isHealthy: true, description: '', value: '' }],
        },
      ],
    );
    assert.equal(
      reports[0]!.body,
      '{"Api": "reporttargethealth", "Version": "1.0", "Source": "WALinuxAgent", "Observations": [{"ObservationName": "GuestAgentPluginHeartbeat", "IsHealthy": true, "Description": "", "Value": ""}]}',
    );
    // the period is a minute: nothing more within the next seconds, while the goal-state cycle goes on every second
    const cyclesBefore = (await emu.requests()).filter((q) => q.path.includes('comp=goalstate')).length;
    await sleep(4000);
    const later = await emu.requests();
    assert.ok(later.filter((q) => q.path.includes('comp=goalstate')).length > cyclesBefore, 'the cycle runs meanwhile');
    assert.equal(later.filter((q) => q.path === '/health').length, 1);
    assert.equal(later.filter((q) => q.path === '/HealthService').length, 2);
  } finally {
    await sb.close();
  }
});

test('heartbeats once per VM: -run-exthandlers on its own sends them; beside a running -daemon it sends none (monitor role)', {
  timeout: 180_000,
}, async () => {
  const sb = await createSandbox();
  const stopInside = async (pidFile: string) => {
    const r = await sb.exec(['sh', '-c', `kill -TERM "$(cat ${pidFile})"`]);
    assert.equal(r.code, 0, r.stderr);
  };
  try {
    const emu = await sb.startEmulator();
    sb.writeConfig({ 'Provisioning.Agent': 'disabled', 'Extensions.GoalStatePeriod': '1', 'Extensions.InitialGoalStatePeriod': '1' });
    const count = async () => {
      const q = await emu.requests();
      return {
        health: q.filter((r) => r.service === 'hostplugin' && r.path === '/health').length,
        observations: q.filter((r) => r.service === 'wireserver' && r.path === '/HealthService').length,
        goalStates: q.filter((r) => r.path.includes('comp=goalstate')).length,
      };
    };

    // 1. -run-exthandlers alone: it runs the goal-state loop, so it sends the heartbeats and holds the role.
    const worker = sb.spawn(['sh', '-c', `echo $$ > /run/worker.pid; exec ${WAAGENT} -run-exthandlers`]);
    worker.stdout!.resume();
    worker.stderr!.resume();
    const workerExit = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    await waitFor('the worker heartbeats', async () => ((await count()).observations >= 2 ? true : null));
    const workerPid = sb.readFile('/run/worker.pid').trim();
    assert.equal(sb.readFile('/var/lib/waagent/waagent-monitor.pid').trim(), workerPid, 'the worker holds the monitor role');
    const observations = (await emu.control.healthObservations()).map((r) => r.observations[0]?.name).sort();
    assert.deepEqual(observations, ['GuestAgentPluginHeartbeat', 'InstanceMetadataHeartbeat']);
    await stopInside('/run/worker.pid');
    assert.equal(await workerExit, 0);
    assert.equal((await sb.exec(['test', '-e', '/var/lib/waagent/waagent-monitor.pid'])).code, 1, 'the role is given up at exit');

    // 2. -daemon first, then -run-exthandlers beside it: both run the loop, only the daemon sends heartbeats.
    const before = await count();
    const daemon = sb.spawn([WAAGENT, '-daemon']);
    daemon.stdout!.resume();
    daemon.stderr!.resume();
    const daemonExit = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    await waitFor('the daemon heartbeats', async () => ((await count()).observations >= before.observations + 2 ? true : null));
    const daemonPid = sb.readFile('/var/run/waagent.pid').trim();
    assert.equal(sb.readFile('/var/lib/waagent/waagent-monitor.pid').trim(), daemonPid);
    const second = sb.spawn(['sh', '-c', `echo $$ > /run/worker.pid; exec ${WAAGENT} -run-exthandlers`]);
    second.stdout!.resume();
    second.stderr!.resume();
    const secondExit = new Promise<number | null>((resolve) => second.once('exit', (code) => resolve(code)));
    // the worker's heartbeat tasks run as soon as it reaches the platform: wait until it has run a few cycles
    const mid = await count();
    await waitFor('the worker cycles', async () => ((await count()).goalStates >= mid.goalStates + 6 ? true : null));
    await sleep(2000);
    const after = await count();
    assert.equal(after.health - before.health, 1, 'one /health in this minute, from the daemon only');
    assert.equal(after.observations - before.observations, 2, 'two observations in this minute, from the daemon only');
    assert.match(
      sb.readFile('/var/log/waagent.log'),
      new RegExp(`the heartbeats and health observations are sent by pid ${daemonPid}, not by this process`),
    );
    await stopInside('/run/worker.pid');
    await stopInside('/var/run/waagent.pid');
    assert.deepEqual([await secondExit, await daemonExit], [0, 0]);
  } finally {
    await sb.close();
  }
});

/** The agent events (provider 69B669B9…) the emulator's WireServer accepted, as "Operation|OperationSuccess|Message". */
function agentEvents(batches: TelemetryBatch[]): Array<Record<string, string>> {
  return batches
    .filter((b) => b.status === 200)
    .flatMap((b) => b.providers.filter((p) => p.id === '69B669B9-4AF8-4C50-BDC4-6006FA76E975'))
    .flatMap((p) => p.events.map((e) => Object.fromEntries(e.params.map((x) => [x.name, String(x.value)]))));
}

test("daemon: a /health that gets no answer is sent as upstream's HostPluginHeartbeat and HttpErrors events; OSInfo, ConfigurationChange and ProtocolEndpoint once at start", {
  timeout: 180_000,
}, async () => {
  const sb = await createSandbox();
  try {
    const emu = await sb.startEmulator();
    await emu.setFaults([{ kind: 'reset', service: 'hostplugin', path: '^/health$' }]);
    sb.writeConfig({ 'Provisioning.Agent': 'disabled', 'Extensions.GoalStatePeriod': '1', 'Extensions.InitialGoalStatePeriod': '1' });
    const child = sb.spawn([WAAGENT, '-daemon']);
    child.stdout!.resume();
    child.stderr!.resume();
    const events = await waitFor(
      'the HostPluginHeartbeat, HttpErrors and OSInfo events in an accepted telemetry batch',
      async () => {
        const all = agentEvents(await emu.control.telemetryBatches());
        const has = (op: string) => all.some((e) => e.Operation === op);
        return has('HostPluginHeartbeat') && has('OSInfo') && has('HttpErrors') ? all : null;
      },
      150_000,
    ).catch(async (e: unknown) => {
      process.stderr.write((await sb.exec(['sh', '-c', 'grep -v VERBOSE /var/log/waagent.log | tail -40'])).stdout);
      throw e;
    });
    const hb = events.filter((e) => e.Operation === 'HostPluginHeartbeat');
    assert.equal(hb.length, 1, 'one /health, one event');
    assert.equal(hb[0]!.OperationSuccess, 'False');
    assert.equal(hb[0]!.TaskName, 'MonitorHandler');
    assert.equal(hb[0]!.Name, 'WALinuxAgent');
    assert.match(
      hb[0]!.Message!,
      /^Exception sending host plugin heartbeat: GET http:\/\/[\d.]+:\d+\/health failed after 1 attempt: read ECONNRESET$/,
    );
    // upstream's ReportNetworkErrors: the reset /health counted under the HostGAPlugin, summed at once (first run at start)
    const httpErrors = events.filter((e) => e.Operation === 'HttpErrors');
    assert.equal(httpErrors.length, 1);
    assert.match(httpErrors[0]!.Message!, /^hostplugin:1;protocol:\d+;other:\d+$/);
    // no answer at all is not an unhealthy observation: none was sent for the HostGAPlugin this minute
    const observations = (await emu.control.healthObservations()).map((r) => r.observations[0]?.name);
    assert.ok(!observations.includes('GuestAgentPluginHeartbeat'), observations.join(','));

    const os = events.filter((e) => e.Operation === 'OSInfo');
    assert.equal(os.length, 1);
    assert.equal(os[0]!.OperationSuccess, 'True');
    assert.notEqual(os[0]!.ContainerId, '', 'sent after the first goal state, with its container id');
    assert.match(
      os[0]!.Message!,
      /^Distro: \S+-\S*; OSUtil: \w+; AgentService: [\w.-]+; Python: none \(Node\.js [\d.]+\); Arch: \w+; systemd: (True|False); systemd_version: .*; LISDrivers: .+; logrotate: .+;$/,
    );
    const openssl = events.filter((e) => e.Operation === 'OpenSsl');
    assert.ok(openssl.length >= 1 && /^(OpenSSL version: |Failed to get OpenSSL version: )/.test(openssl[0]!.Message ?? ''));
    const changes = events.filter((e) => e.Operation === 'ConfigurationChange').map((e) => e.Message);
    assert.ok(
      changes.some((m) => m?.startsWith('Extensions.GoalStatePeriod changed from its default: 6. New value: 1. ')),
      changes.join('\n'),
    );
    // the emulator's WireServer is on loopback, not at the known address
    assert.ok(
      events.some(
        (e) =>
          e.Operation === 'ProtocolEndpoint' &&
          /^Protocol endpoint \(127\.[\d.]+\) is not known wireserver ip: 168\.63\.129\.16$/.test(e.Message ?? ''),
      ),
    );
  } finally {
    await sb.close();
  }
});
