// The smaller parts of the ExtHandler loop (docs/protocol.md §3.4, §5.10, §7.1): fast_track.json, the initial goal
// state period and its initial_goal_state file, the Extensions.WaitForCloudInit gate, and the HandlerManifest
// resource limits handed to the command's systemd scope.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import {
  clearFastTrackState,
  FAST_TRACK_FILE,
  readFastTrackTicks,
  saveFastTrackState,
  ticksToTimestamp,
  timestampToTicks,
} from '../../../src/extensions/fast-track-state.ts';
import {
  formatSummary,
  INITIAL_GOAL_STATE_FILE,
  InitialGoalState,
  summarizeExtensions,
} from '../../../src/extensions/initial-goal-state.ts';
import { createLifecyclePorts } from '../../../src/extensions/lifecycle/adapters.ts';
import { handlerLayout } from '../../../src/extensions/package/index.ts';
import { cloudInitGate } from '../../../src/extensions/wait-for-cloud-init.ts';
import { telemetry } from '../../../src/telemetry/recorder.ts';
import { log } from '../../../src/log/logger.ts';
import type { HandlerStatus } from '../../../src/status/types.ts';
import { fakeTools, tempRoot } from '../provisioning/prov-helpers.ts';

/** vm_settings.json's extensionsLastModifiedTickCount (tests/data/hostgaplugin) */
const TICKS = 637726657706205217n;

/** Every log line of this test file (the logger has no way to remove a sink). */
const logged: string[] = [];
log.addSink({ write: (l) => logged.push(l) }, 'VERBOSE');

describe('fast_track.json (§3.4)', () => {
  it('writes the created-on time as the Python agent formats it, with microseconds', () => {
    // 637726657706205217 ticks = 2021-11-16T13:22:50.6205217Z (checked with .NET's DateTime(ticks))
    assert.equal(ticksToTimestamp(TICKS), '2021-11-16T13:22:50.620521Z');
    assert.equal(ticksToTimestamp(621355968000000000n), '1970-01-01T00:00:00.000000Z');
    assert.equal(timestampToTicks('2021-11-16T13:22:50.620521Z'), TICKS - 7n);
    assert.equal(timestampToTicks('1970-01-01T00:00:00Z'), 621355968000000000n);
    assert.equal(timestampToTicks('yesterday'), null);
  });

  it('is saved, read back and cleared; a broken file reads as none', () => {
    const lib = tempRoot();
    assert.equal(readFastTrackTicks(lib), null);
    saveFastTrackState(lib, TICKS);
    assert.deepEqual(JSON.parse(readFileSync(join(lib, FAST_TRACK_FILE), 'utf8')), { timestamp: '2021-11-16T13:22:50.620521Z' });
    assert.equal(readFastTrackTicks(lib), TICKS - 7n);
    clearFastTrackState(lib);
    assert.equal(existsSync(join(lib, FAST_TRACK_FILE)), false);
    clearFastTrackState(lib); // nothing to clear: no error
    writeFileSync(join(lib, FAST_TRACK_FILE), '{"timestamp": 12}');
    assert.equal(readFastTrackTicks(lib), null);
    writeFileSync(join(lib, FAST_TRACK_FILE), 'not json');
    assert.equal(readFastTrackTicks(lib), null);
  });
});

const handler = (name: string, status: string, exts: Array<[string, string]> = []): HandlerStatus => ({
  name,
  version: '1.0',
  status,
  code: 0,
  message: null,
  isMultiConfig: exts.length > 1,
  extensions: exts.map(([n, s]) => ({
    name: n,
    sequenceNumber: 0,
    configurationAppliedTime: null,
    operation: null,
    status: s as 'success',
    code: 0,
    message: null,
    substatus: [],
  })),
});

describe('the initial goal state (§7.1)', () => {
  const conf = (lib: string, extra: Record<string, string | number | boolean> = {}) =>
    Config.from({ 'Lib.Dir': lib, 'Extensions.GoalStatePeriod': 6, 'Extensions.InitialGoalStatePeriod': 2, ...extra });

  it("summarises extensions (their status, else the handler's) sorted by name, as upstream prints it", () => {
    const s = summarizeExtensions([
      handler('Z.H', 'Ready', [['Z.H', 'success']]),
      handler('A.H', 'NotReady'),
      handler('M.H', 'Ready', [
        ['e1', 'transitioning'],
        ['e0', 'error'],
      ]),
    ]);
    assert.equal(formatSummary(s), "[('A.H', 'NotReady'), ('Z.H', 'success'), ('e0', 'error'), ('e1', 'transitioning')]");
    assert.equal(s.converged, false);
    assert.equal(summarizeExtensions([handler('A', 'Ready'), handler('B', 'Ready', [['B', 'warning']])]).converged, false);
    assert.equal(summarizeExtensions([handler('A', 'Ready'), handler('B', 'NotReady', [['B', 'error']])]).converged, true);
  });

  it('polls on the initial period until the first goal state converges, then writes initial_goal_state and switches', () => {
    const lib = tempRoot();
    const g = new InitialGoalState(conf(lib), lib);
    assert.equal(g.periodMs(), 2000);
    g.onStatus([handler('A', 'Ready', [['A', 'transitioning']])]); // before any goal state: ignored
    g.onNewGoalState();
    g.onStatus([handler('A', 'Ready', [['A', 'transitioning']])]);
    assert.equal(g.periodMs(), 2000);
    assert.equal(existsSync(join(lib, INITIAL_GOAL_STATE_FILE)), false);
    g.onStatus([handler('A', 'Ready', [['A', 'success']])]);
    assert.equal(g.periodMs(), 6000);
    assert.equal(readFileSync(join(lib, INITIAL_GOAL_STATE_FILE), 'utf8'), "[('A', 'success')]");
    // A later restart starts on the regular period.
    assert.equal(new InitialGoalState(conf(lib), lib).periodMs(), 6000);
  });

  it('a first goal state without extensions converges at once', () => {
    const lib = tempRoot();
    const g = new InitialGoalState(conf(lib), lib);
    g.onNewGoalState();
    g.onStatus([]);
    assert.equal(readFileSync(join(lib, INITIAL_GOAL_STATE_FILE), 'utf8'), '[]');
    assert.equal(g.periodMs(), 6000);
  });

  it('a new goal state before the first converged completes it with the summary so far', () => {
    const lib = tempRoot();
    const g = new InitialGoalState(conf(lib), lib);
    g.onNewGoalState();
    g.onStatus([handler('A', 'Ready', [['A', 'transitioning']])]);
    g.onNewGoalState();
    assert.equal(readFileSync(join(lib, INITIAL_GOAL_STATE_FILE), 'utf8'), "[('A', 'transitioning')]");
    assert.equal(g.periodMs(), 6000);
  });

  it('without InitialGoalStatePeriod uses GoalStatePeriod, and with extensions disabled the regular period from the start', () => {
    const lib = tempRoot();
    assert.equal(new InitialGoalState(Config.from({ 'Lib.Dir': lib, 'Extensions.GoalStatePeriod': 9 }), lib).periodMs(), 9000);
    const off = new InitialGoalState(conf(lib, { 'Extensions.Enabled': false }), lib);
    assert.equal(off.pending, false);
    assert.equal(off.periodMs(), 6000);
  });
});

describe('Extensions.WaitForCloudInit (§7.1 step 4)', () => {
  const state = tempRoot();
  const tools = fakeTools({
    'cloud-init': `n=$(cat '${state}/mode' 2>/dev/null); case "$n" in slow) exec sleep 30;; fail) echo "status: error" ; exit 1;; *) echo "status: done";; esac`,
  });
  const waits = () => tools.calls().filter((c) => c.startsWith('cloud-init'));

  it('is not waited for unless enabled', async () => {
    await cloudInitGate(Config.from({}))();
    assert.deepEqual(waits(), []);
  });

  it('runs `cloud-init status --wait` once per process, whatever its outcome', async () => {
    const gate = cloudInitGate(Config.from({ 'Extensions.WaitForCloudInit': true }));
    await gate();
    await gate();
    assert.deepEqual(waits(), ['cloud-init status --wait']);
    writeFileSync(join(state, 'mode'), 'fail');
    const failing = cloudInitGate(Config.from({ 'Extensions.WaitForCloudInit': true }));
    await failing();
    await failing();
    assert.equal(waits().length, 2);
    assert.ok(
      logged.some((l) => /exited with code 1; processing extensions anyway/.test(l)),
      logged.join('\n'),
    );
  });

  it("sends upstream's CloudInit events: waiting, completed with the output, or the error", async () => {
    const dir = join(tempRoot(), 'events');
    telemetry.start(dir);
    try {
      writeFileSync(join(state, 'mode'), 'done');
      await cloudInitGate(Config.from({ 'Extensions.WaitForCloudInit': true }))();
      writeFileSync(join(state, 'mode'), 'fail');
      await cloudInitGate(Config.from({ 'Extensions.WaitForCloudInit': true }))();
    } finally {
      telemetry.start(null);
    }
    const events = readdirSync(dir)
      .sort()
      .map((n) => {
        const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { parameters: Array<{ name: string; value: unknown }> };
        const p = Object.fromEntries(e.parameters.map((x) => [x.name, x.value]));
        return `${p.Operation}|${p.OperationSuccess}|${p.Message}`;
      });
    assert.deepEqual(events, [
      'CloudInit|true|Waiting for cloud-init to complete...',
      'CloudInit|true|cloud-init completed\nstatus: done',
      'CloudInit|true|Waiting for cloud-init to complete...',
      'CloudInit|false|An error occurred while waiting for cloud-init; will proceed to execute VM extensions. Extensions that have conflicts with cloud-init may fail.\ncloud-init status --wait exited with code 1: status: error',
    ]);
  });

  it('gives up after Extensions.WaitForCloudInitTimeout seconds and goes on', async () => {
    writeFileSync(join(state, 'mode'), 'slow');
    const t = Date.now();
    await cloudInitGate(Config.from({ 'Extensions.WaitForCloudInit': true, 'Extensions.WaitForCloudInitTimeout': 1 }))();
    const ms = Date.now() - t;
    assert.ok(ms >= 900 && ms < 10_000, `waited ${ms} ms`);
    assert.ok(
      logged.some((l) => /did not complete within 1 s/.test(l)),
      logged.join('\n'),
    );
  });
});

describe('resource limits (§5.10)', () => {
  it('the HandlerManifest resourceLimits become the CPUQuota / MemoryMax of the command scope', async () => {
    const root = tempRoot();
    const roots = { libDir: join(root, 'lib'), logDir: join(root, 'log') };
    const runDir = join(root, 'run-systemd');
    mkdirSync(runDir);
    const calls = join(root, 'systemd-run.calls');
    const fake = join(root, 'systemd-run');
    writeFileSync(
      fake,
      `#!/bin/sh\necho "$*" >> '${calls}'\nfor a; do shift; case "$a" in --unit=*) u=\${a#--unit=};; --slice=*) break;; esac; done\necho "Running scope as unit: $u.scope" >&2\nexec "$@"\n`,
    );
    chmodSync(fake, 0o755);
    const install = (name: string, limits: unknown) => {
      const l = handlerLayout(roots, name, '1.0');
      mkdirSync(l.baseDir, { recursive: true });
      writeFileSync(join(l.baseDir, 'enable.sh'), 'exit 0\n', { mode: 0o755 });
      const hm = {
        installCommand: 'enable.sh',
        uninstallCommand: 'enable.sh',
        updateCommand: 'enable.sh',
        enableCommand: 'enable.sh',
        disableCommand: 'enable.sh',
      };
      writeFileSync(
        l.manifestFile,
        JSON.stringify([{ name, version: 1.0, handlerManifest: hm, ...(limits ? { resourceLimits: limits } : {}) }]),
      );
    };
    install('Limited.Ext', { cpuQuotaPercentage: 50, memoryQuotaInMB: 256, services: [{ name: 'x.service', cpuQuotaPercentage: 5 }] });
    install('Cpu.Only', { cpuQuotaPercentage: 10 });
    install('Free.Ext', null);
    const ports = createLifecyclePorts({
      roots,
      download: {} as never,
      wireServerAddress: '127.0.0.1',
      useSystemd: true,
      systemd: { runDir, systemdRun: fake },
    });
    const enable = (name: string) =>
      ports.commands.run({ name, version: '1.0', operation: 'enable', command: 'enable.sh', seqNo: 0, extensionName: null, env: {} });
    for (const n of ['Limited.Ext', 'Cpu.Only', 'Free.Ext']) assert.equal((await enable(n)).error, null);
    const argv = readFileSync(calls, 'utf8').trim().split('\n');
    assert.match(
      argv[0]!,
      /^--property=CPUQuota=50% --property=MemoryMax=256M --unit=Limited\.Ext_\d+ --scope --slice=azure-vmextensions-Limited\.Ext\.slice /,
    );
    assert.match(argv[1]!, /^--property=CPUQuota=10% --property=MemoryAccounting=no --unit=Cpu\.Only_\d+ /);
    assert.match(argv[2]!, /^--property=CPUAccounting=no --property=MemoryAccounting=no --unit=Free\.Ext_\d+ /);
  });
});
