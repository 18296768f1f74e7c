// waagent -run-exthandlers -once against the fabric emulator (in-process until the command is wired into main.ts):
// a real handler package (shell scripts that log what ran and write status files) goes through
// install → enable → new settings → update → uninstall over successive goal states, with the files on disk, the
// commands in order, and the status blob the emulator received checked each time; and the status blob is sent
// even when the goal state cannot be fetched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handlerZip as packageZip, OPS } from '../helpers/extensions.ts';
import type { Invocation } from '../../src/commands/invocation.ts';
import { runExtHandlersCommand } from '../../src/commands/run-exthandlers.ts';
import { parseConfig } from '../../src/config/index.ts';
import { processChannel } from '../../src/extensions/download.ts';
import { registerArtifact } from '../fabric/artifacts.ts';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { fixtureProfile } from '../helpers/distro.ts';
import { REPO_ROOT as ROOT } from '../helpers/paths.ts';
import type { StatusBlobJson } from '../helpers/status-json.ts';

/** This file runs the loop in-process on the test host: it must never manage the host's users (RemoteAccess). */
const HOST = { remoteAccess: false } as const;
const PROFILE = fixtureProfile('debian-12');

const NAME = 'Test.Ext';
/** Each command logs itself in this file's own format; a test can make it hang by creating ../hang-<op>. */
const SCRIPT = (op: string, status = false) => `if [ -e ../hang-${op} ]; then echo $$ > ../hang-${op}.pid; sleep 120; fi
echo "${op} $AZURE_GUEST_AGENT_EXTENSION_VERSION seq=$ConfigSequenceNumber uninstall=$AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE from=$AZURE_GUEST_AGENT_UPDATING_FROM_VERSION" >> ../ops.log
${status ? `printf '[{"version":1.0,"timestampUTC":"2025-01-01T00:00:00Z","status":{"name":"${NAME}","operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"enabled %s"}}}]' "$ConfigSequenceNumber" > status/$ConfigSequenceNumber.status` : ''}`;

/** The shared test package (test/helpers/extensions.ts) with these scripts in place of its own logging. */
function handlerZip(): Buffer {
  return packageZip({
    name: NAME,
    version: '1.0.0',
    bare: OPS,
    scripts: Object.fromEntries(OPS.map((op) => [op, SCRIPT(op, op === 'enable')])),
  });
}

describe('waagent -run-exthandlers -once against the emulator', () => {
  let fabric: Fabric;
  let dir: string;
  let lib: string;
  let conf: ReturnType<typeof parseConfig>;
  let periodConf: ReturnType<typeof parseConfig>;
  let baseLines: string[] = [];
  const blob = (path: string) => `http://127.0.0.1:${fabric.ports.blob}${path}`;
  const inv: Invocation = { command: 'run-exthandlers', verbose: false, force: false, once: true, full: false, configPath: null };

  before(async () => {
    const any = { host: '127.0.0.1', port: 0 };
    fabric = await startFabric({ wireServer: any, hostPlugin: any, imds: any, blob: any, vmSettings: false });
    dir = mkdtempSync(join(tmpdir(), 'ext-e2e-'));
    lib = join(dir, 'lib');
    baseLines = [
      `Lib.Dir=${lib}`,
      `Extension.LogDir=${join(dir, 'log')}`,
      `Protocol.WireServerEndpoint=127.0.0.1:${fabric.ports.wireServer}`,
      `Protocol.HostGAPluginPort=${fabric.ports.hostPlugin}`,
      // the continuous loop sends the IMDS heartbeat too: to the emulator, never to 169.254.169.254
      `Protocol.ImdsEndpoint=127.0.0.1:${fabric.ports.imds}`,
      'CGroups.Enabled=n',
      'Debug.EnableFastTrack=n',
      'HttpProxy.Host=None',
    ];
    const lines = baseLines;
    conf = parseConfig(lines.join('\n'), join(dir, 'waagent.conf'));
    periodConf = parseConfig([...lines, 'Extensions.GoalStatePeriod=1'].join('\n'), join(dir, 'period.conf'));
    for (const v of ['1.0.0', '1.1.0']) registerArtifact(fabric.state, `/pkg/${NAME}__${v}.zip`, handlerZip());
    const plugin = (v: string) => `<Plugin><Version>${v}</Version><Uris><Uri>${blob(`/pkg/${NAME}__${v}.zip`)}</Uri></Uris></Plugin>`;
    registerArtifact(
      fabric.state,
      '/manifests/test.xml',
      `<?xml version="1.0" encoding="utf-8"?><PluginVersionManifest><Plugins>${plugin('1.0.0')}${plugin('1.1.0')}</Plugins></PluginVersionManifest>`,
    );
  });
  after(async () => {
    await fabric?.close();
    processChannel.hostPluginFirst = false;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Serves an ExtensionsConfig asking for NAME at `version`/`state` with settings `seqNo`, as incarnation `inc`. */
  function goalState(inc: number, version: string, state: string, seqNo: number): void {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="${inc}">
  <StatusUploadBlob statusBlobType="BlockBlob">${blob('/status/vm.status')}?sv=2020&amp;sig=SECRET</StatusUploadBlob>
  <Plugins>
    <Plugin name="${NAME}" version="${version}" location="${blob('/manifests/test.xml')}" state="${state}" autoUpgrade="false" isJson="true" useExactVersion="true"/>
  </Plugins>
  <PluginSettings>
    <Plugin name="${NAME}" version="${version}">
      <RuntimeSettings seqNo="${seqNo}">{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"n":${seqNo}}}}]}</RuntimeSettings>
    </Plugin>
  </PluginSettings>
  <InVMGoalStateMetaData inSvdSeqNo="${inc}" createdOnTicks="${637726657706205217n + BigInt(inc)}" activityId="a" correlationId="c"/>
</Extensions>`;
    const file = join(dir, `ext_conf_${inc}.xml`);
    writeFileSync(file, xml);
    fabric.state.useScenario(undefined, { extensionsConfig: file });
    fabric.state.incarnationOverride = String(inc);
  }

  /** One -once run; returns the ops the handler logged during it and the last status blob uploaded. */
  async function once(): Promise<{ ops: string[]; status: StatusBlobJson }> {
    const opsFile = join(lib, 'ops.log');
    const before = existsSync(opsFile) ? readFileSync(opsFile, 'utf8').split('\n').filter(Boolean).length : 0;
    const uploads = fabric.state.statusUploads.length;
    assert.equal(await runExtHandlersCommand(conf, inv, PROFILE, HOST), 0);
    const ops = existsSync(opsFile) ? readFileSync(opsFile, 'utf8').split('\n').filter(Boolean).slice(before) : [];
    assert.ok(fabric.state.statusUploads.length > uploads, 'a status blob was uploaded this cycle');
    const last = fabric.state.statusUploads[fabric.state.statusUploads.length - 1]!;
    return { ops, status: JSON.parse(last.content) };
  }

  const handlers = (s: StatusBlobJson) => s.aggregateStatus.handlerAggregateStatus;

  test('install → enable → new settings → update → uninstall, with files, commands and status blobs', async () => {
    goalState(1, '1.0.0', 'enabled', 0);
    let r = await once();
    assert.deepEqual(r.ops, ['install 1.0.0 seq=0 uninstall=NOT_RUN from=', 'enable 1.0.0 seq=0 uninstall=NOT_RUN from=']);
    const base = join(lib, `${NAME}-1.0.0`);
    assert.equal(readFileSync(join(base, 'config', 'HandlerState'), 'utf8'), 'Enabled');
    assert.deepEqual(JSON.parse(readFileSync(join(base, 'config', '0.settings'), 'utf8')), {
      runtimeSettings: [{ handlerSettings: { publicSettings: { n: 0 }, protectedSettings: null, protectedSettingsCertThumbprint: null } }],
    });
    assert.ok(existsSync(join(base, 'HandlerEnvironment.json')));
    assert.ok(!existsSync(join(lib, `${NAME}__1.0.0.zip`)), 'the zip is deleted after extraction');
    assert.equal(r.status.version, '1.1');
    let h = handlers(r.status);
    assert.equal(h.length, 1);
    assert.equal(h[0]!.handlerName, NAME);
    assert.equal(h[0]!.handlerVersion, '1.0.0');
    assert.equal(h[0]!.status, 'Ready');
    assert.equal(h[0]!.formattedMessage.message, 'Plugin enabled');
    assert.equal(h[0]!.runtimeSettingsStatus.sequenceNumber, 0);
    assert.equal(h[0]!.runtimeSettingsStatus.settingsStatus.status.status, 'success');
    assert.equal(h[0]!.runtimeSettingsStatus.settingsStatus.status.formattedMessage.message, 'enabled 0');
    const gsa = r.status.aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus;
    assert.deepEqual(
      [gsa.status, gsa.code, gsa.inSvdSeqNo, gsa.formattedMessage.message],
      ['Success', 0, '1', 'GoalState executed successfully'],
    );

    goalState(2, '1.0.0', 'enabled', 1);
    r = await once();
    assert.deepEqual(r.ops, ['enable 1.0.0 seq=1 uninstall=NOT_RUN from=']);
    assert.ok(existsSync(join(base, 'config', '1.settings')));
    assert.equal(handlers(r.status)[0]!.runtimeSettingsStatus.sequenceNumber, 1);

    goalState(3, '1.1.0', 'enabled', 1);
    r = await once();
    assert.deepEqual(r.ops, [
      'disable 1.0.0 seq=1 uninstall= from=',
      'update 1.1.0 seq=1 uninstall= from=1.0.0',
      'uninstall 1.0.0 seq=1 uninstall= from=',
      'install 1.1.0 seq=1 uninstall=0 from=',
      'enable 1.1.0 seq=1 uninstall=0 from=',
    ]);
    assert.ok(!existsSync(base), 'the old version is gone');
    assert.equal(readFileSync(join(lib, `${NAME}-1.1.0`, 'config', 'HandlerState'), 'utf8'), 'Enabled');
    h = handlers(r.status);
    assert.deepEqual([h[0]!.handlerVersion, h[0]!.status], ['1.1.0', 'Ready']);

    goalState(4, '1.1.0', 'uninstall', 1);
    r = await once();
    assert.deepEqual(r.ops, ['disable 1.1.0 seq=1 uninstall= from=', 'uninstall 1.1.0 seq=1 uninstall= from=']);
    assert.ok(!existsSync(join(lib, `${NAME}-1.1.0`)));
    assert.deepEqual(handlers(r.status), [], 'an uninstalled handler leaves the status blob');
  });

  test('the loop uploads the status blob every cycle, also while the goal state cannot be fetched', async () => {
    goalState(5, '1.1.0', 'enabled', 2);
    const stop = new AbortController();
    const start = fabric.state.statusUploads.length;
    const running = runExtHandlersCommand(periodConf, { ...inv, once: false }, PROFILE, { ...HOST, signal: stop.signal });
    const waitUploads = async (n: number) => {
      for (let i = 0; i < 200 && fabric.state.statusUploads.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(fabric.state.statusUploads.length >= n, `at least ${n} status uploads`);
    };
    await waitUploads(start + 1);
    fabric.state.faults.set([{ kind: 'status', status: 404, service: 'wireserver', path: 'comp=goalstate' }]);
    const failing = fabric.state.statusUploads.length;
    const fetches = () => fabric.state.requests.filter((q) => q.path.includes('comp=goalstate')).length;
    const before = fetches();
    await waitUploads(failing + 2);
    assert.ok(fetches() > before, 'the goal state was asked for (and failed) meanwhile');
    fabric.state.faults.set([]);
    stop.abort();
    assert.equal(await running, 0);
    const last = JSON.parse(fabric.state.statusUploads[fabric.state.statusUploads.length - 1]!.content);
    assert.equal(last.aggregateStatus.handlerAggregateStatus[0].status, 'Ready');
  });

  test('an agent SIGKILLed in the middle of install, then of enable, converges without installing twice', async () => {
    const crashLib = join(dir, 'crashlib');
    const confFile = join(dir, 'crash.conf');
    writeFileSync(confFile, [...baseLines.filter((l) => !l.startsWith('Lib.Dir=')), `Lib.Dir=${crashLib}`].join('\n'));
    const crashConf = parseConfig(readFileSync(confFile, 'utf8'), confFile);
    const ops = () =>
      existsSync(join(crashLib, 'ops.log')) ? readFileSync(join(crashLib, 'ops.log'), 'utf8').split('\n').filter(Boolean) : [];
    const src = (rel: string) => JSON.stringify(join(ROOT, rel));
    /** The agent in a child process, killed with SIGKILL once `op` hangs; the hung command's group is killed too. */
    async function killDuring(op: string): Promise<void> {
      mkdirSync(crashLib, { recursive: true });
      writeFileSync(join(crashLib, `hang-${op}`), '');
      const code =
        `import { readFileSync } from 'node:fs'; import { parseConfig } from ${src('src/config/index.ts')};` +
        `import { runExtHandlersCommand } from ${src('src/commands/run-exthandlers.ts')};` +
        `import { fixtureProfile } from ${src('test/helpers/distro.ts')};` +
        `const f = ${JSON.stringify(confFile)}; process.exitCode = await runExtHandlersCommand(parseConfig(readFileSync(f, 'utf8'), f),` +
        ` { command: 'run-exthandlers', verbose: false, force: false, once: true, full: false, configPath: f }, fixtureProfile('debian-12'), { remoteAccess: false });`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'ignore' });
      const pidFile = join(crashLib, `hang-${op}.pid`);
      for (let i = 0; i < 400 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(pidFile), `the ${op} command started and hung`);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      // The command runs in a session of its own: kill its whole process group (field 5 of /proc/<pid>/stat).
      const pgid = Number(
        readFileSync(`/proc/${pid}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ')[2],
      );
      assert.ok(pgid > 1, 'the hung command has a process group');
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      rmSync(pidFile, { force: true });
      rmSync(join(crashLib, `hang-${op}`), { force: true });
    }

    goalState(20, '1.0.0', 'enabled', 0);
    await killDuring('install');
    assert.deepEqual(ops(), [], 'install was killed before it finished');
    const base = join(crashLib, `${NAME}-1.0.0`);
    assert.notEqual(
      existsSync(join(base, 'config', 'HandlerState')) ? readFileSync(join(base, 'config', 'HandlerState'), 'utf8') : 'NotInstalled',
      'Installed',
    );
    assert.equal(await runExtHandlersCommand(crashConf, inv, PROFILE, HOST), 0);
    assert.deepEqual(ops(), ['install 1.0.0 seq=0 uninstall=NOT_RUN from=', 'enable 1.0.0 seq=0 uninstall=NOT_RUN from=']);

    goalState(21, '1.0.0', 'enabled', 1);
    await killDuring('enable');
    assert.equal(readFileSync(join(base, 'config', 'HandlerState'), 'utf8'), 'Enabled');
    const uploads = fabric.state.statusUploads.length;
    assert.equal(await runExtHandlersCommand(crashConf, inv, PROFILE, HOST), 0);
    assert.deepEqual(ops().slice(2), ['enable 1.0.0 seq=1 uninstall=NOT_RUN from='], 'only enable runs again, never install');
    assert.ok(existsSync(join(base, 'config', '1.settings')));
    const last = JSON.parse(fabric.state.statusUploads[fabric.state.statusUploads.length - 1]!.content);
    assert.ok(fabric.state.statusUploads.length > uploads);
    assert.equal(last.aggregateStatus.handlerAggregateStatus[0].runtimeSettingsStatus.sequenceNumber, 1);
    assert.equal(last.aggregateStatus.handlerAggregateStatus[0].runtimeSettingsStatus.settingsStatus.status.status, 'success');
  });
});
