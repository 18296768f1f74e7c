// The heartbeats of upstream's monitor thread, sent by the built daemon against the emulator: GET /health on the
// HostGAPlugin and GET /metadata/instance on IMDS, each followed by a HealthService observation on the WireServer;
// a HostGAPlugin that answers 500 is still reported healthy (its grace is 5 minutes: test/unit/daemon/heartbeats.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox, WAAGENT } from '../sandbox/sandbox.ts';

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
