// The ExtHandler loop against the fabric emulator, in-process (docs/protocol.md §3.4, §7.1, §7.3): Fast Track
// bookkeeping (fast_track.json, VmSettings.json redacted in the goal-state history), the outdated Fabric goal state
// that is not executed, and the switch from the initial goal-state period once the first goal state converged.
// Every document is generated here with loopback URLs only, and none names a RemoteAccess document (the JIT code
// would otherwise manage accounts of the host running the tests).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/index.ts';
import { FAST_TRACK_FILE, ticksToTimestamp } from '../../src/extensions/fast-track-state.ts';
import { INITIAL_GOAL_STATE_FILE } from '../../src/extensions/initial-goal-state.ts';
import { openExtensionsLoop } from '../../src/extensions/loop.ts';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { fixtureProfile } from '../helpers/distro.ts';
import type { StatusBlobJson } from '../helpers/status-json.ts';

const TICKS = 637726657706205217n;

describe('the ExtHandler loop: Fast Track bookkeeping and the initial goal state', () => {
  let fabric: Fabric;
  let dir: string;
  let n = 0;
  const blob = (path: string) => `http://127.0.0.1:${fabric.ports.blob}${path}`;

  before(async () => {
    const any = { host: '127.0.0.1', port: 0 };
    fabric = await startFabric({ wireServer: any, hostPlugin: any, imds: any, blob: any });
    dir = mkdtempSync(join(tmpdir(), 'ext-loop-gaps-'));
  });
  after(async () => {
    await fabric?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh Lib.Dir and a configuration on it. */
  function setup(extra: string[] = []) {
    const lib = join(dir, `lib${++n}`);
    const lines = [
      `Lib.Dir=${lib}`,
      `Extension.LogDir=${join(dir, 'log')}`,
      `Protocol.WireServerEndpoint=127.0.0.1:${fabric.ports.wireServer}`,
      `Protocol.HostGAPluginPort=${fabric.ports.hostPlugin}`,
      'CGroups.Enabled=n',
      'EnableOverProvisioning=n',
      'HttpProxy.Host=None',
      'Extensions.GoalStatePeriod=6',
      'Extensions.InitialGoalStatePeriod=2',
      ...extra,
    ];
    return { lib, config: parseConfig(lines.join('\n'), join(dir, `waagent${n}.conf`)) };
  }

  /** ExtensionsConfig without plugins, created at `ticks`, as incarnation `inc`; the vmSettings text given, or none. */
  function serve(inc: number, ticks: bigint, vmSettings: string | null): void {
    const ext = join(dir, `ext_conf_${inc}.xml`);
    writeFileSync(
      ext,
      `<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="${inc}">
  <StatusUploadBlob statusBlobType="BlockBlob">${blob('/status/vm.status')}?sv=2020&amp;sig=SECRET</StatusUploadBlob>
  <Plugins/>
  <PluginSettings/>
  <InVMGoalStateMetaData inSvdSeqNo="${inc}" createdOnTicks="${ticks}" activityId="a" correlationId="c"/>
</Extensions>`,
    );
    const docs: Record<string, string> = { extensionsConfig: ext };
    if (vmSettings) {
      const vm = join(dir, `vm_settings_${inc}_${++n}.json`);
      writeFileSync(vm, vmSettings);
      docs.vmSettings = vm;
    }
    fabric.state.useScenario(undefined, docs);
    if (!vmSettings) fabric.state.scenario.docs.vmSettings = undefined;
    fabric.state.incarnationOverride = String(inc);
  }

  /** A vmSettings document (the tick count is a JSON number too large for a double: spliced in as text). */
  const vmSettingsDoc = (ticks: bigint, source = 'FastTrack', thumbprint = 'ABCDEF') =>
    JSON.stringify({
      hostGAPluginVersion: '1.0.8.133',
      vmSettingsSchemaVersion: '0.0',
      activityId: 'a',
      correlationId: 'c',
      inSvdSeqNo: 7,
      extensionsLastModifiedTickCount: '__TICKS__',
      extensionGoalStatesSource: source,
      onHold: false,
      statusUploadBlob: { statusBlobType: 'BlockBlob', value: `${blob('/status/vm.status')}?sv=2020&sig=SECRET` },
      requiredFeatures: [],
      extensionGoalStates: [
        {
          name: 'Test.Ext',
          version: '1.0.0',
          location: blob('/manifests/none.xml'),
          state: 'enabled',
          autoUpgrade: false,
          isJson: true,
          settingsSeqNo: 0,
          settings: [{ protectedSettingsCertThumbprint: thumbprint, protectedSettings: 'TOPSECRETBASE64', publicSettings: '{"a":1}' }],
        },
      ],
    }).replace('"__TICKS__"', ticks.toString());

  /** The last status blob the emulator received, parsed. */
  const lastStatus = () => JSON.parse(fabric.state.statusUploads[fabric.state.statusUploads.length - 1]!.content) as StatusBlobJson;
  const historyDirs = (lib: string) => (existsSync(join(lib, 'history')) ? readdirSync(join(lib, 'history')).sort() : []);

  test('a Fast Track goal state writes fast_track.json and its redacted VmSettings.json into the history; a Fabric vmSettings clears it', async () => {
    // Extensions disabled: the goal state is processed (and reported) without downloading anything.
    const { lib, config } = setup(['Extensions.Enabled=n']);
    serve(1, TICKS - 1000n, vmSettingsDoc(TICKS));
    // the distro in the status blob is the profile's (read once by main.ts), not this host's
    const loop = openExtensionsLoop(config, {
      configPath: join(dir, 'waagent.conf'),
      profile: fixtureProfile('azurelinux-3.0'),
      remoteAccess: false,
    });
    try {
      assert.equal(await loop.cycle(), true);
      const { osName, osVersion } = lastStatus().guestOSInfo;
      assert.deepEqual([osName, osVersion], ['azurelinux', '3.0']);
      assert.deepEqual(JSON.parse(readFileSync(join(lib, FAST_TRACK_FILE), 'utf8')), { timestamp: ticksToTimestamp(TICKS) });
      const dirs = historyDirs(lib);
      assert.equal(dirs.length, 1, dirs.join());
      assert.match(dirs[0]!, /__1-[0-9a-f]{20}$/, 'the folder is named <incarnation>-<etag>');
      const saved = readFileSync(join(lib, 'history', dirs[0]!, 'VmSettings.json'), 'utf8');
      assert.ok(saved.includes('Test.Ext'));
      assert.ok(!saved.includes('TOPSECRETBASE64'), 'protected settings are redacted');
      assert.ok(!saved.includes('sig=SECRET'), 'SAS tokens are redacted');
      assert.equal(lastStatus().aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus.inSvdSeqNo, '7');

      // The HostGAPlugin now says the goal states come from Fabric: fast_track.json goes.
      serve(1, TICKS - 1000n, vmSettingsDoc(TICKS + 5n, 'Fabric'));
      assert.equal(await loop.cycle(), true);
      assert.equal(existsSync(join(lib, FAST_TRACK_FILE)), false);
    } finally {
      await loop.close();
    }
  });

  test('§10 item 14: a Fast Track goal state naming a certificate not downloaded yet forces one full refresh', async () => {
    const { lib, config } = setup(['Extensions.Enabled=n']);
    const certRequests = () =>
      fabric.state.requests.filter((r) => r.service === 'wireserver' && r.path.includes('comp=certificates')).length;
    serve(1, TICKS - 1000n, vmSettingsDoc(TICKS, 'FastTrack', 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9'));
    const loop = openExtensionsLoop(config, {
      configPath: join(dir, 'waagent.conf'),
      profile: fixtureProfile('debian-12'),
      remoteAccess: false,
    });
    try {
      const before = certRequests();
      assert.equal(await loop.cycle(), true);
      // the first full fetch brings the certificate: no second one
      assert.ok(existsSync(join(lib, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9.crt')));
      assert.equal(certRequests() - before, 1);
      // a new Fast Track goal state naming a certificate the WireServer does not have: one forced refresh, then a warning
      serve(1, TICKS - 1000n, vmSettingsDoc(TICKS + 10n, 'FastTrack', 'AB'.repeat(20)));
      const mid = certRequests();
      assert.equal(await loop.cycle(), true);
      assert.equal(certRequests() - mid, 1, 'the certificates were fetched again');
      // the same goal state again: nothing new, no refresh
      assert.equal(await loop.cycle(), true);
      assert.equal(certRequests() - mid, 1);
    } finally {
      await loop.close();
    }
  });

  test('with Fast Track disabled, a Fabric goal state older than the last Fast Track one is not executed; a newer one is', async () => {
    const { lib, config } = setup(['Debug.EnableFastTrack=n']);
    const loop = openExtensionsLoop(config, {
      configPath: join(dir, 'waagent.conf'),
      profile: fixtureProfile('debian-12'),
      remoteAccess: false,
    });
    try {
      // fast_track.json from an earlier run, newer than the Fabric goal state served now
      serve(3, TICKS - 10_000_000n, null);
      mkdirSync(lib, { recursive: true });
      writeFileSync(join(lib, FAST_TRACK_FILE), JSON.stringify({ timestamp: ticksToTimestamp(TICKS) }));
      const uploads = fabric.state.statusUploads.length;
      assert.equal(await loop.cycle(), true);
      assert.ok(fabric.state.statusUploads.length > uploads, 'the status is still reported');
      assert.equal(lastStatus().aggregateStatus.vmArtifactsAggregateStatus, undefined, 'no goal state was executed');
      assert.deepEqual(historyDirs(lib), []);
      assert.equal(existsSync(join(lib, FAST_TRACK_FILE)), false, 'the outdated state is cleared');

      serve(4, TICKS + 10_000_000n, null);
      assert.equal(await loop.cycle(), true);
      const gs = lastStatus().aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus;
      assert.equal(gs.inSvdSeqNo, '4');
      assert.equal(gs.status, 'Success');
    } finally {
      await loop.close();
    }
  });

  test('the initial goal-state period holds until the first goal state converged, then initial_goal_state is written', async () => {
    const { lib, config } = setup(['Debug.EnableFastTrack=n']);
    serve(5, TICKS, null);
    const loop = openExtensionsLoop(config, {
      configPath: join(dir, 'waagent.conf'),
      profile: fixtureProfile('debian-12'),
      remoteAccess: false,
    });
    try {
      assert.equal(loop.periodMs(), 2000);
      assert.equal(await loop.cycle(), true);
      assert.equal(readFileSync(join(lib, INITIAL_GOAL_STATE_FILE), 'utf8'), '[]');
      assert.equal(loop.periodMs(), 6000);
    } finally {
      await loop.close();
    }
    const again = openExtensionsLoop(config, {
      configPath: join(dir, 'waagent.conf'),
      profile: fixtureProfile('debian-12'),
      remoteAccess: false,
    });
    assert.equal(again.periodMs(), 6000, 'after a restart the regular period applies from the start');
    await again.close();
  });
});
