// Extensions end to end with the BUILT binary (issue 5, "Tests"): dist/waagent -run-exthandlers -once (and the
// -daemon) in the namespace sandbox against the fabric emulator, with handler packages the tests build. Checked from
// outside: the files on disk, the commands the handlers logged and their order, and every status blob the emulator
// received, against docs/protocol.md §5 and §6.1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ExtensionsHarness,
  extensionsConfig,
  goalStateStatus,
  handlerEntries,
  handlerZip,
  LIB,
  logSnippet,
  pluginManifest,
  statusSnippet,
  type HandlerSpec,
  type Json,
  type PluginSpec,
  type RunResult,
} from '../helpers/extensions.ts';
import { FIXTURES } from '../helpers/paths.ts';
import { fakeVmId } from '../helpers/provisioning.ts';
import { WAAGENT } from '../sandbox/sandbox.ts';

const STATUS_BLOB = 'https://acct.blob.core.windows.net/vhds/vm.status?sv=2020-01-01&sig=SECRETSIG';

describe('the lifecycle of one handler over successive goal states', () => {
  let x: ExtensionsHarness;
  const NAME = 'Test.Lifecycle';
  // on the emulator's blob service: the direct channel works (the fixture tests below use the HostGAPlugin fallback)
  let manifestUrl = '';
  const pkgUrl = (v: string) => x.blob(`/pkgs/${NAME}__${v}`);
  const plugin = (version: string, state: PluginSpec['state'], seqNo: number): PluginSpec => ({
    name: NAME,
    version,
    state,
    manifestUrl,
    seqNo,
    publicSettings: { n: seqNo },
  });
  const serve = (inc: number, p: PluginSpec) =>
    x.serve({ extensionsConfig: extensionsConfig({ incarnation: inc, plugins: [p], statusBlob: STATUS_BLOB }) }, inc);

  before(async () => {
    x = await ExtensionsHarness.start();
    manifestUrl = x.blob('/manifests/Test.Lifecycle_manifest.xml');
    await x.register({
      [manifestUrl]: pluginManifest(['1.0.0', '1.1.0'].map((v) => ({ version: v, uris: [pkgUrl(v)] }))),
      [pkgUrl('1.0.0')]: handlerZip({ name: NAME, version: '1.0.0' }),
      [pkgUrl('1.1.0')]: handlerZip({ name: NAME, version: '1.1.0' }),
    });
  });
  after(() => x?.close());

  const base = (v: string) => `${LIB}/${NAME}-${v}`;
  const entry = (doc: Json) => {
    const h = handlerEntries(doc);
    assert.equal(h.length, 1, JSON.stringify(h));
    return h[0];
  };

  test('goal state 1: install, then enable; the handler dir, HandlerEnvironment.json, settings and status', async () => {
    await serve(1, plugin('1.0.0', 'enabled', 0));
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`install ${NAME} 1.0.0 seq=0 uninstall=NOT_RUN from=`, `enable ${NAME} 1.0.0 seq=0 uninstall=NOT_RUN from=`]);
    assert.equal(x.read(`${base('1.0.0')}/config/HandlerState`), 'Enabled');
    assert.deepEqual(JSON.parse(x.read(`${base('1.0.0')}/config/0.settings`)!), {
      runtimeSettings: [{ handlerSettings: { publicSettings: { n: 0 }, protectedSettings: null, protectedSettingsCertThumbprint: null } }],
    });
    const env = JSON.parse(x.read(`${base('1.0.0')}/HandlerEnvironment.json`)!);
    assert.deepEqual(env, [
      {
        name: NAME,
        version: 1.0,
        handlerEnvironment: {
          logFolder: `/var/log/azure/${NAME}`,
          configFolder: `${base('1.0.0')}/config`,
          statusFolder: `${base('1.0.0')}/status`,
          heartbeatFile: `${base('1.0.0')}/heartbeat.log`,
          eventsFolder: `/var/log/azure/${NAME}/events`,
          eventsFolder_preview: `/var/log/azure/${NAME}/events`,
        },
      },
    ]);
    assert.equal(await x.sh(`stat -c %a ${base('1.0.0')}/config ${base('1.0.0')}/status`), '700\n700');
    assert.ok(!x.exists(`${LIB}/${NAME}__1.0.0.zip`), 'the zip is deleted after extraction');
    for (const doc of r.uploads) {
      const h = entry(doc);
      assert.deepEqual(
        [h.handlerName, h.handlerVersion, h.status, h.code, h.formattedMessage.message],
        [NAME, '1.0.0', 'Ready', 0, 'Plugin enabled'],
      );
      const s = h.runtimeSettingsStatus;
      assert.equal(s.sequenceNumber, 0);
      assert.deepEqual([s.settingsStatus.status.name, s.settingsStatus.status.status, s.settingsStatus.status.code], [NAME, 'success', 0]);
      assert.equal(s.settingsStatus.status.formattedMessage.message, 'enabled 0');
      assert.deepEqual(goalStateStatus(doc), { ...goalStateStatus(doc), status: 'Success', code: 0, inSvdSeqNo: '1' });
      assert.equal(goalStateStatus(doc).formattedMessage.message, 'GoalState executed successfully');
    }
  });

  test('goal state 2: new settings (sequence number 1) run enable only, with 1.settings', async () => {
    await serve(2, plugin('1.0.0', 'enabled', 1));
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`enable ${NAME} 1.0.0 seq=1 uninstall=NOT_RUN from=`]);
    assert.deepEqual(JSON.parse(x.read(`${base('1.0.0')}/config/1.settings`)!).runtimeSettings[0].handlerSettings.publicSettings, { n: 1 });
    assert.ok(x.exists(`${base('1.0.0')}/config/0.settings`), 'older settings files stay');
    for (const doc of r.uploads) {
      const h = entry(doc);
      assert.deepEqual(
        [h.status, h.runtimeSettingsStatus.sequenceNumber, h.runtimeSettingsStatus.settingsStatus.status.formattedMessage.message],
        ['Ready', 1, 'enabled 1'],
      );
      assert.equal(goalStateStatus(doc).inSvdSeqNo, '2');
    }
  });

  test('goal state 3: update to 1.1.0 runs old disable, new update, old uninstall, new install, new enable', async () => {
    await serve(3, plugin('1.1.0', 'enabled', 1));
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      `disable ${NAME} 1.0.0 seq=1 uninstall= from=`,
      `update ${NAME} 1.1.0 seq=1 uninstall= from=1.0.0`,
      `uninstall ${NAME} 1.0.0 seq=1 uninstall= from=`,
      `install ${NAME} 1.1.0 seq=1 uninstall=0 from=`,
      `enable ${NAME} 1.1.0 seq=1 uninstall=0 from=`,
    ]);
    assert.ok(!x.exists(base('1.0.0')), 'the old version is gone');
    assert.equal(x.read(`${base('1.1.0')}/config/HandlerState`), 'Enabled');
    assert.ok(x.exists(`${base('1.1.0')}/status/0.status`), "the old version's status files were copied over");
    for (const doc of r.uploads)
      assert.deepEqual([entry(doc).handlerVersion, entry(doc).status, goalStateStatus(doc).inSvdSeqNo], ['1.1.0', 'Ready', '3']);
  });

  test('goal state 4: disabled runs disable; HandlerState Installed, NotReady "Plugin disabled"', async () => {
    await serve(4, plugin('1.1.0', 'disabled', 1));
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`disable ${NAME} 1.1.0 seq=1 uninstall= from=`]);
    assert.equal(x.read(`${base('1.1.0')}/config/HandlerState`), 'Installed');
    for (const doc of r.uploads) {
      const h = entry(doc);
      assert.deepEqual([h.handlerVersion, h.status, h.code, h.formattedMessage.message], ['1.1.0', 'NotReady', 0, 'Plugin disabled']);
    }
  });

  test('the emulator control API refuses bad document replacements with one clear sentence', async () => {
    const change = (body: unknown) => x.emu.control.call('POST', '/goal-state', body);
    await assert.rejects(change({ docs: { extensionsConfig: 5 } }), /"docs" must map document names to file paths/);
    await assert.rejects(change({ docs: { nope: '/etc/hostname' } }), /unknown document name "nope"/);
    await assert.rejects(
      change({ docs: { extensionsConfig: '/nonexistent.xml' } }),
      /document file \/nonexistent\.xml for extensionsConfig does not exist/,
    );
  });

  test('goal state 5: uninstall runs uninstall only, removes the handler, and it leaves the status blob', async () => {
    await serve(5, plugin('1.1.0', 'uninstall', 1));
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`uninstall ${NAME} 1.1.0 seq=1 uninstall= from=`]);
    assert.ok(!x.exists(base('1.1.0')));
    for (const doc of r.uploads) {
      assert.deepEqual(handlerEntries(doc), []);
      assert.deepEqual([goalStateStatus(doc).status, goalStateStatus(doc).inSvdSeqNo], ['Success', '5']);
    }
  });
});

describe('misbehaving handlers, each its own package, in one goal state', () => {
  let x: ExtensionsHarness;
  let run: RunResult;
  let ms = 0;
  const specs: HandlerSpec[] = [
    { name: 'Bad.Good', version: '1.0.0' },
    // install leaves a process in the background that keeps the captured stdout/stderr open
    { name: 'Bad.Forker', version: '1.0.0', scripts: { install: 'sleep 120 &\necho $! > ../forker.pid\necho started in the background' } },
    { name: 'Bad.ExitOne', version: '1.0.0', scripts: { enable: 'echo about to fail; echo oops >&2; exit 1' } },
    // install (after the agent's u+x of every file, §5.3) makes the enable script non-executable
    {
      name: 'Bad.NoExec',
      version: '1.0.0',
      scripts: { install: 'printf "#!/bin/sh\\nexit 0\\n" > bin/run.sh; chmod 644 bin/run.sh' },
      manifest: { enableCommand: 'bin/run.sh' },
    },
    {
      name: 'Bad.Chatty',
      version: '1.0.0',
      scripts: { enable: "head -c 5000000 /dev/zero | tr '\\0' o\nhead -c 3000000 /dev/zero | tr '\\0' e >&2\nexit 3" },
    },
    {
      name: 'Bad.NotJson',
      version: '1.0.0',
      scripts: { enable: 'printf \'[{"status": {"status": "succ\' > status/$ConfigSequenceNumber.status' },
    },
    { name: 'Bad.Shape', version: '1.0.0', scripts: { enable: 'printf \'{"status": "success"}\' > status/$ConfigSequenceNumber.status' } },
    { name: 'Bad.DotDot', version: '1.0.0', extra: [{ name: '../../../evil-dotdot', data: 'x' }] },
    { name: 'Bad.Absolute', version: '1.0.0', extra: [{ name: '/etc/evil-absolute', data: 'x' }] },
    {
      name: 'Bad.Symlink',
      version: '1.0.0',
      extra: [
        { name: 'escape', data: '../../../../etc', mode: 0o120777 },
        { name: 'escape/evil-symlink', data: 'x' },
      ],
    },
  ];
  const byName = (name: string): Json => handlerEntries(run.status).find((h: Json) => h.handlerName === name);
  const read = (name: string, op: string) => run.ops.filter((l) => l.startsWith(`${op} ${name} `));

  before(async () => {
    x = await ExtensionsHarness.start();
    const artifacts: Record<string, Buffer | string> = {};
    const plugins: PluginSpec[] = [];
    for (const spec of specs) {
      const pkg = x.blob(`/pkgs/${spec.name}__1.0.0`);
      artifacts[x.blob(`/manifests/${spec.name}.xml`)] = pluginManifest([{ version: '1.0.0', uris: [pkg] }]);
      artifacts[pkg] = handlerZip(spec);
      plugins.push({ name: spec.name, version: '1.0.0', state: 'enabled', manifestUrl: x.blob(`/manifests/${spec.name}.xml`), seqNo: 0 });
    }
    await x.register(artifacts);
    await x.serve({ extensionsConfig: extensionsConfig({ incarnation: 1, plugins, statusBlob: STATUS_BLOB }) }, 1);
    const t = performance.now();
    // long enough that an agent held by Bad.Forker's pipe would be seen lasting until its `sleep 120` ends
    run = await x.once(150_000);
    ms = performance.now() - t;
  });
  after(() => x?.close());

  test('the agent survives them all: exit 0, the goal state succeeded, the good handler is enabled', () => {
    assert.equal(run.code, 0, run.stderr);
    for (const doc of run.uploads) assert.deepEqual([goalStateStatus(doc).status, goalStateStatus(doc).code], ['Success', 0]);
    assert.deepEqual(read('Bad.Good', 'install').length + read('Bad.Good', 'enable').length, 2);
    assert.deepEqual(
      [byName('Bad.Good').status, byName('Bad.Good').runtimeSettingsStatus.settingsStatus.status.status],
      ['Ready', 'success'],
    );
    assert.equal(x.read(`${LIB}/Bad.Good-1.0.0/config/HandlerState`), 'Enabled');
  });

  test('a command that leaves a process holding its stdout open does not hold the agent', async () => {
    // Held by the open pipe, the run would last until the background `sleep 120` ends. Not held, it is the 5 × 2 s
    // status re-reads of the non-JSON status file (§5.11) plus the work: seconds natively, about 40 s for the arm64
    // executable under qemu-user. The bound sits between the two.
    assert.ok(ms < 90_000, `the run took ${Math.round(ms)} ms: it waited for the background process`);
    const pid = x.read(`${LIB}/forker.pid`)!.trim();
    assert.match(pid, /^\d+$/);
    assert.equal(
      (await x.sb.exec(['kill', '-0', pid])).code,
      0,
      'the background process is still running (it is not killed after a normal exit)',
    );
    assert.equal(x.read(`${LIB}/Bad.Forker-1.0.0/config/HandlerState`), 'Enabled');
    assert.equal(byName('Bad.Forker').status, 'Ready');
    assert.equal((await x.sb.exec(['kill', '-9', pid])).code, 0);
  });

  test('exit 1: NotReady with code 1009 and the output in the message', () => {
    const h = byName('Bad.ExitOne');
    assert.deepEqual([h.status, h.code], ['NotReady', 1009]);
    assert.match(
      h.formattedMessage.message,
      /^Non-zero exit code: 1, \/bin\/enable\.sh \(enable of Bad\.ExitOne 1\.0\.0\)\n\[stdout\]\nabout to fail\n\n\n\[stderr\]\noops\n?$/,
    );
    assert.equal(x.read(`${LIB}/Bad.ExitOne-1.0.0/config/HandlerState`), 'Installed');
    // no status file from the extension: transitioning, code 0 (§5.11)
    assert.deepEqual(
      [h.runtimeSettingsStatus.settingsStatus.status.status, h.runtimeSettingsStatus.settingsStatus.status.code],
      ['transitioning', 0],
    );
  });

  test('exit 126 (a script without the execute permission): NotReady with code 1009 naming the cause', () => {
    const h = byName('Bad.NoExec');
    assert.deepEqual([h.status, h.code], ['NotReady', 1009]);
    assert.match(
      h.formattedMessage.message,
      /Non-zero exit code: 126, bin\/run\.sh .*cannot be executed: the file lacks the execute permission \(exit code 126\)/s,
    );
  });

  test('megabytes of output: capped output files, a message of at most 3200 characters of output', () => {
    const h = byName('Bad.Chatty');
    assert.deepEqual([h.status, h.code], ['NotReady', 1009]);
    const msg: string = h.formattedMessage.message;
    assert.match(msg, /^Non-zero exit code: 3, /);
    const output = msg.slice(msg.indexOf('[stdout]'));
    assert.ok(output.length <= 3200, `${output.length} characters of output in the message`);
    assert.match(output, /^\[stdout\]\no+\n\n\[stderr\]\ne+$/);
    const stdout = x.read('/var/log/azure/Bad.Chatty/CommandExecution.enable.stdout')!;
    assert.ok(stdout.length <= 1024 * 1024 + 100, `stdout file of ${stdout.length} bytes`);
    assert.match(stdout, /\n\.\.\. \[\d+ bytes of output omitted\] \.\.\.\n/);
  });

  test('a status file that is not JSON: error 1012 "incorrect format"; one of the wrong shape: error 1012', () => {
    const bad = byName('Bad.NotJson').runtimeSettingsStatus.settingsStatus.status;
    assert.deepEqual([bad.status, bad.code], ['error', 1012]);
    assert.match(
      bad.formattedMessage.message,
      /^The status reported by the extension Bad\.NotJson\(Sequence number 0\), was in an incorrect format/,
    );
    assert.equal(byName('Bad.NotJson').status, 'Ready', 'the handler itself is enabled');
    const shape = byName('Bad.Shape').runtimeSettingsStatus.settingsStatus.status;
    assert.deepEqual([shape.status, shape.code], ['error', 1012]);
    assert.match(
      shape.formattedMessage.message,
      /^Could not get a valid status from the extension Bad\.Shape\. Encountered the following error: The extension status must be an array/,
    );
  });

  test('hostile zip entries (.., absolute, symlink escape) are refused, reported, and nothing is written outside', async () => {
    const cases: Array<[string, RegExp]> = [
      ['Bad.DotDot', /entry "\.\.\/\.\.\/\.\.\/evil-dotdot" of .* is refused: its name contains a "\.\." component/],
      ['Bad.Absolute', /entry "\/etc\/evil-absolute" of .* is refused: its name is an absolute path/],
      [
        'Bad.Symlink',
        /entry "escape" of .* is refused: it is a symlink to "\.\.\/\.\.\/\.\.\/\.\.\/etc", outside the extraction directory/,
      ],
    ];
    for (const [name, why] of cases) {
      const h = byName(name);
      assert.equal(h.status, 'NotReady', name);
      assert.equal(h.code, 1002, name);
      assert.match(h.formattedMessage.message, why);
      assert.deepEqual(
        run.ops.filter((l) => l.includes(` ${name} `)),
        [],
        `no command of ${name} ran`,
      );
      assert.ok(!x.exists(`${LIB}/${name}-1.0.0/bin`), `nothing of ${name} was left unpacked`);
      assert.ok(!x.exists(`${LIB}/${name}__1.0.0.zip`), 'the zip is gone');
    }
    // where the entries would have landed: /var/evil-dotdot, /etc/evil-absolute, /etc/evil-symlink
    assert.equal(await x.sh('find /etc /var /tmp /root /home /run /mnt -name "evil-*"'), '');
  });
});

describe('recorded ExtensionsConfig and vmSettings documents, served verbatim', () => {
  let x: ExtensionsHarness;
  const WIRE = join(FIXTURES, 'tests/data/wire');
  const VM_SETTINGS = join(FIXTURES, 'tests/data/hostgaplugin/vm_settings.json');
  /** The blob the recorded ExtensionsConfig documents name (uploads arrive through the HostGAPlugin, §6.2). */
  const EC_BLOB = '/vhds/test-cs12.test-cs12.test-cs12.status';
  const EXAMPLE = 'OSTCExtensions.ExampleHandlerLinux';
  const OTHER = 'OSTCExtensions.OtherExampleHandlerLinux';
  let inc = 1;
  /** Serves a recorded document as the ExtensionsConfig of a new incarnation; one -once run. */
  const serveFixture = async (file: string, docs: Record<string, string> = {}): Promise<RunResult> => {
    await x.serve({ extensionsConfig: join(WIRE, file), ...docs }, ++inc);
    return x.once(60_000);
  };
  const entry = (doc: Json, name: string): Json => handlerEntries(doc).find((h: Json) => h.handlerName === name);
  const blobPaths = async () => [...new Set((await x.emu.statusUploads()).map((u) => u.blob))];

  before(async () => {
    x = await ExtensionsHarness.start();
    // Manifests and packages at the paths the recorded documents name (mock-goal-state hosts do not resolve in the
    // sandbox, so the HostGAPlugin channel fetches them by URL, §3.5). The package is multi-config capable, and
    // its disable fails when ../fail-<name> exists.
    const pkg = handlerZip({
      name: 'ExampleHandlerLinux',
      version: '1.0.0',
      manifest: { supportsMultipleExtensions: true },
      scripts: { enable: `[ -e ../fail-$n ] && exit 1\n${statusSnippet()}` },
    });
    const host = 'http://mock-goal-state/rdfepirv2hknprdstr03.blob.core.windows.net/b01058962be54ceca550a390fa5ff064';
    await x.register({
      // wire/manifest.xml names the packages /foo.bar/zar/OSTCExtensions.ExampleHandlerLinux__<version>
      [`${host}/Microsoft.OSTCExtensions_ExampleHandlerLinux_asiaeast_manifest.xml`]: readFileSync(join(WIRE, 'manifest.xml')),
      'http://mock-goal-state/foo.bar/zar/OSTCExtensions.ExampleHandlerLinux__1.0.0': pkg,
      [`${host}/Microsoft.OSTCExtensions_OtherExampleHandlerLinux_asiaeast_manifest.xml`]: pluginManifest([
        { version: '1.0.0', uris: ['http://mock-goal-state/pkgs/Other__1.0.0'] },
      ]),
      'http://mock-goal-state/pkgs/Other__1.0.0': pkg,
      'https://mock-goal-state/zrdfepirv2sn3prdstr06.blob.core.windows.net/3055d769a0ed485d8c5ea8a7cd24073e/Microsoft.Powershell_ExampleExtension_ussouth_manifest.xml':
        pluginManifest([{ version: '1.0.0', uris: ['http://mock-goal-state/pkgs/Powershell__1.0.0'] }]),
      'http://mock-goal-state/pkgs/Powershell__1.0.0': pkg,
    });
  });
  after(() => x?.close());

  test('ext_conf_sequencing.xml: the dependency (level 1) is installed and enabled before its dependent (level 2)', async () => {
    const r = await serveFixture('ext_conf_sequencing.xml');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      `install ${OTHER} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `enable ${OTHER} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `install ${EXAMPLE} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `enable ${EXAMPLE} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
    ]);
    for (const doc of r.uploads) {
      assert.deepEqual(
        handlerEntries(doc).map((h: Json) => [h.handlerName, h.status, h.runtimeSettingsStatus.settingsStatus.status.status]),
        [
          [EXAMPLE, 'Ready', 'success'],
          [OTHER, 'Ready', 'success'],
        ],
      );
      assert.deepEqual([goalStateStatus(doc).status, goalStateStatus(doc).inSvdSeqNo], ['Success', String(inc)]);
    }
    assert.deepEqual(await blobPaths(), [EC_BLOB]);
  });

  test('ext_conf_sequencing.xml again, the dependency failing: the dependent is skipped with code -1', async () => {
    x.sb.writeFile(`${LIB}/fail-${OTHER}`, '');
    const r = await serveFixture('ext_conf_sequencing.xml');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`enable ${OTHER} 1.0.0 seq=0 uninstall=NOT_RUN from=`], 'the dependent did not run');
    const other = entry(r.status, OTHER);
    assert.deepEqual([other.status, other.code], ['NotReady', 1009]);
    const ex = entry(r.status, EXAMPLE);
    assert.deepEqual([ex.status, ex.code], ['NotReady', -1]);
    assert.match(
      ex.formattedMessage.message,
      new RegExp(`^Skipping processing of extensions since execution of dependent extension ${OTHER} failed`),
    );
    assert.equal(goalStateStatus(r.status).status, 'Success');
  });

  test('ext_conf_invalid_and_valid_handlers.xml: the invalid handler is reported as an error, the valid one runs, the rest go', async () => {
    const r = await serveFixture('ext_conf_invalid_and_valid_handlers.xml');
    assert.equal(r.code, 0, r.stderr);
    const valid = 'OSTCExtensions.ValidExampleHandlerLinux';
    const invalid = 'OSTCExtensions.InvalidExampleHandlerLinux';
    // handlers no longer in the goal state are removed without running uninstall (§5.9 step 7)
    assert.deepEqual(r.ops, [
      `install ${valid} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `enable ${valid} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
    ]);
    assert.ok(!x.exists(`${LIB}/${EXAMPLE}-1.0.0`) && !x.exists(`${LIB}/${OTHER}-1.0.0`));
    const bad = entry(r.status, invalid);
    assert.deepEqual([bad.status, bad.code], ['NotReady', -1]);
    assert.match(
      bad.formattedMessage.message,
      /^Ran into config errors: the handler OSTCExtensions\.InvalidExampleHandlerLinux 1\.0\.0 has both RuntimeSettings and ExtensionRuntimeSettings/,
    );
    assert.deepEqual([entry(r.status, valid).status, entry(r.status, valid).code], ['Ready', 0]);
    assert.ok(!x.exists(`${LIB}/${invalid}-1.0.0/bin`), 'nothing of the invalid handler was installed');
  });

  test('ext_conf_required_features.xml: unsupported features fail the goal state with 2001 and touch nothing', async () => {
    const r = await serveFixture('ext_conf_required_features.xml');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, []);
    for (const doc of r.uploads) {
      const gs = goalStateStatus(doc);
      assert.deepEqual([gs.status, gs.code, gs.inSvdSeqNo], ['Failed', 2001, String(inc)]);
      assert.equal(
        gs.formattedMessage.message,
        `Failing GS incarnation_${inc} as Unsupported features found: TestRequiredFeature1, TestRequiredFeature2, TestRequiredFeature3`,
      );
      // handlers found on disk are reported (§6.1)
      assert.equal(entry(doc, 'OSTCExtensions.ValidExampleHandlerLinux').status, 'Ready');
    }
    assert.ok(x.exists(`${LIB}/OSTCExtensions.ValidExampleHandlerLinux-1.0.0/bin`), 'the handler on disk was not removed');
  });

  test('multi-config/ext_conf_multi_config_no_dependencies.xml: on hold by its InVMArtifactsProfileBlob, then processed', async () => {
    const profile = 'https://test.blob.core.windows.net/$system/lrwinmcdn_0.0f3bfecf-f14f-4c7d-8275-9dee7310fe8c.vmSettings';
    await x.register({ [profile]: readFileSync(join(WIRE, 'in_vm_artifacts_profile.json')) });
    let r = await serveFixture('multi-config/ext_conf_multi_config_no_dependencies.xml');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [], 'on hold: nothing runs');
    assert.equal(goalStateStatus(r.status), undefined, 'no goal state was processed by this agent process');

    await x.register({ [profile]: '{"onHold": false}' });
    r = await serveFixture('multi-config/ext_conf_multi_config_no_dependencies.xml');
    assert.equal(r.code, 0, r.stderr);
    const ps = 'Microsoft.Powershell.ExampleExtension';
    assert.deepEqual(r.ops, [
      `install ${EXAMPLE} 1.0.0 seq=1 ext=firstExtension uninstall=NOT_RUN from=`,
      `enable ${EXAMPLE} 1.0.0 seq=1 ext=firstExtension uninstall=NOT_RUN from=`,
      `enable ${EXAMPLE} 1.0.0 seq=2 ext=secondExtension uninstall=NOT_RUN from=`,
      `enable ${EXAMPLE} 1.0.0 seq=3 ext=thirdExtension uninstall=NOT_RUN from=`,
      `install ${ps} 1.0.0 seq=9 uninstall=NOT_RUN from=`,
      `enable ${ps} 1.0.0 seq=9 uninstall=NOT_RUN from=`,
    ]);
    for (const ext of ['firstExtension', 'secondExtension', 'thirdExtension']) {
      assert.equal(x.read(`${LIB}/${EXAMPLE}-1.0.0/config/${ext}.HandlerState`), 'enabled');
    }
    assert.ok(x.exists(`${LIB}/${EXAMPLE}-1.0.0/config/secondExtension.2.settings`));
    for (const doc of r.uploads) {
      // one entry per extension of the multi-config handler, with extensionName (§6.1)
      assert.deepEqual(
        handlerEntries(doc).map((h: Json) => [
          h.handlerName,
          h.status,
          h.runtimeSettingsStatus.extensionName,
          h.runtimeSettingsStatus.sequenceNumber,
          h.runtimeSettingsStatus.settingsStatus.status.name,
        ]),
        [
          [EXAMPLE, 'Ready', 'firstExtension', 1, 'firstExtension'],
          [EXAMPLE, 'Ready', 'secondExtension', 2, 'secondExtension'],
          [EXAMPLE, 'Ready', 'thirdExtension', 3, 'thirdExtension'],
          [ps, 'Ready', undefined, 9, ps],
        ],
      );
      assert.deepEqual([goalStateStatus(doc).status, goalStateStatus(doc).code], ['Success', 0]);
    }
  });
  test('hostgaplugin/vm_settings.json (Fast Track): on hold, then, with EnableOverProvisioning=n, processed by dependency level', async () => {
    const vm = JSON.parse(readFileSync(VM_SETTINGS, 'utf8'));
    const artifacts: Record<string, Buffer | string> = {};
    for (const h of vm.extensionGoalStates) {
      const pkg = `http://mock-goal-state/pkgs/${h.name}__${h.version}`;
      artifacts[h.location] = pluginManifest([{ version: h.version, uris: [pkg] }]);
      artifacts[pkg] = handlerZip({ name: h.name, version: h.version, manifest: { supportsMultipleExtensions: true } });
    }
    await x.register(artifacts);
    x.configure({ 'Debug.EnableFastTrack': 'y' });
    const vmBlob = new URL(vm.statusUploadBlob.value).pathname;
    // the recorded document says onHold: true (§5.1: honoured with EnableOverProvisioning=y, the default)
    let r = await serveFixture('ext_conf.xml', { vmSettings: VM_SETTINGS });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, []);
    assert.ok(x.exists(`${LIB}/${EXAMPLE}-1.0.0/bin`), 'nothing was cleaned up either');
    let uploads = (await x.emu.statusUploads()).slice(-r.uploads.length);
    assert.deepEqual([...new Set(uploads.map((u) => u.blob))], [decodeURIComponent(vmBlob)], "the status goes to vmSettings' blob");
    for (const doc of r.uploads) {
      assert.deepEqual(
        doc.supportedFeatures.map((f: Json) => f.Key),
        ['MultipleExtensionsPerHandler', 'VersioningGovernance', 'FastTrack'],
      );
      assert.equal(goalStateStatus(doc), undefined);
    }

    x.configure({ 'Debug.EnableFastTrack': 'y', EnableOverProvisioning: 'n' });
    r = await x.once(60_000);
    assert.equal(r.code, 0, r.stderr);
    const [ama, asa, cse, rc, vma] = vm.extensionGoalStates.map((h: Json) => `${h.name} ${h.version}`);
    // §5.9 step 3: level 0 (in goal-state order), then CustomScript and MCExt2 (level 1), then MCExt1 (level 2)
    assert.deepEqual(r.ops, [
      `install ${ama} seq=0 uninstall=NOT_RUN from=`,
      `enable ${ama} seq=0 uninstall=NOT_RUN from=`,
      `install ${asa} seq=0 uninstall=NOT_RUN from=`,
      `enable ${asa} seq=0 uninstall=NOT_RUN from=`,
      `install ${rc} seq=0 ext=MCExt3 uninstall=NOT_RUN from=`,
      `enable ${rc} seq=0 ext=MCExt3 uninstall=NOT_RUN from=`,
      `install ${vma} seq=0 uninstall=NOT_RUN from=`,
      `enable ${vma} seq=0 uninstall=NOT_RUN from=`,
      `install ${cse} seq=0 uninstall=NOT_RUN from=`,
      `enable ${cse} seq=0 uninstall=NOT_RUN from=`,
      `enable ${rc} seq=0 ext=MCExt2 uninstall=NOT_RUN from=`,
      `enable ${rc} seq=0 ext=MCExt1 uninstall=NOT_RUN from=`,
    ]);
    assert.ok(!x.exists(`${LIB}/${EXAMPLE}-1.0.0`), 'the handlers of the WireServer goal state were removed');
    for (const doc of r.uploads) {
      assert.deepEqual(
        handlerEntries(doc).map((h: Json) => [
          `${h.handlerName} ${h.handlerVersion}`,
          h.status,
          h.runtimeSettingsStatus.extensionName,
          h.runtimeSettingsStatus.settingsStatus.status.status,
        ]),
        [
          [ama, 'Ready', undefined, 'success'],
          [asa, 'Ready', undefined, 'success'],
          [cse, 'Ready', undefined, 'success'],
          [rc, 'Ready', 'MCExt1', 'success'],
          [rc, 'Ready', 'MCExt2', 'success'],
          [rc, 'Ready', 'MCExt3', 'success'],
          [vma, 'Ready', undefined, 'success'],
        ],
      );
      assert.deepEqual(
        [goalStateStatus(doc).status, goalStateStatus(doc).code, goalStateStatus(doc).inSvdSeqNo],
        ['Success', 0, String(vm.inSvdSeqNo)],
      );
    }
    uploads = (await x.emu.statusUploads()).slice(-r.uploads.length);
    assert.deepEqual([...new Set(uploads.map((u) => u.blob))], [decodeURIComponent(vmBlob)]);
    const artifactRequests = (await x.emu.control.requests('hostplugin')).filter((q) => q.path.startsWith('/extensionArtifact'));
    assert.ok(
      artifactRequests.some((q) => q.headers['x-ms-verify-from-artifacts-blob'] === 'true'),
      'Fast Track manifests are asked for with x-ms-verify-from-artifacts-blob',
    );
  });
});

describe('restarts: an agent SIGKILLed in the middle of an install, and the daemon over several cycles', () => {
  let x: ExtensionsHarness;
  const plugin = (name: string, seqNo: number): PluginSpec => ({
    name,
    version: '1.0.0',
    state: 'enabled',
    manifestUrl: x.blob(`/manifests/${name}.xml`),
    seqNo,
  });
  const serve = (inc: number, p: PluginSpec) =>
    x.serve({ extensionsConfig: extensionsConfig({ incarnation: inc, plugins: [p], statusBlob: STATUS_BLOB }) }, inc);
  const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await check())) {
      assert.ok(Date.now() < end, `timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  before(async () => {
    x = await ExtensionsHarness.start();
    const artifacts: Record<string, Buffer | string> = {};
    const specs: HandlerSpec[] = [
      {
        // install says it started, then waits for ../go before it logs (i.e. completes)
        name: 'Crash.Ext',
        version: '1.0.0',
        bare: ['install'],
        scripts: { install: `echo $$ >> ../install-started\nwhile [ ! -e ../go ]; do sleep 0.1; done\n${logSnippet('install')}` },
      },
      { name: 'Daemon.Ext', version: '1.0.0' },
    ];
    for (const spec of specs) {
      const pkg = x.blob(`/pkgs/${spec.name}__1.0.0`);
      artifacts[x.blob(`/manifests/${spec.name}.xml`)] = pluginManifest([{ version: '1.0.0', uris: [pkg] }]);
      artifacts[pkg] = handlerZip(spec);
    }
    await x.register(artifacts);
  });
  after(() => x?.close());

  test('SIGKILL during install, then a restart: install completes once, then enable', async () => {
    await serve(1, plugin('Crash.Ext', 0));
    const agent = x.sb.spawn([WAAGENT, '-run-exthandlers', '-once']);
    const exited = new Promise((r) => agent.once('exit', r));
    await until('the install command to start', () => x.exists(`${LIB}/install-started`));
    // nsenter's only child is the agent (host pid namespace)
    const agentPid = Number(readFileSync(`/proc/${agent.pid}/task/${agent.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    assert.ok(agentPid > 0);
    process.kill(agentPid, 'SIGKILL');
    await exited;
    // The install runs in a session of its own and outlives the agent; kill its group too, as a crash of the VM
    // or the service's cgroup would (field 5 of /proc/<pid>/stat).
    const installPid = x.read(`${LIB}/install-started`)!.trim();
    const pgid = x
      .read(`/proc/${installPid}/stat`)!
      .replace(/^.*\) /s, '')
      .split(' ')[2];
    assert.equal((await x.sb.exec(['kill', '-9', '--', `-${pgid}`])).code, 0);
    assert.deepEqual(x.opsLog(), [], 'install did not complete');
    assert.notEqual(x.read(`${LIB}/Crash.Ext-1.0.0/config/HandlerState`) ?? 'NotInstalled', 'Installed');

    x.sb.writeFile(`${LIB}/go`, '');
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      'install Crash.Ext 1.0.0 seq=0 uninstall=NOT_RUN from=',
      'enable Crash.Ext 1.0.0 seq=0 uninstall=NOT_RUN from=',
    ]);
    assert.equal(x.read(`${LIB}/install-started`)!.trim().split('\n').length, 2, 'install started twice, completed once');
    assert.equal(x.read(`${LIB}/Crash.Ext-1.0.0/config/HandlerState`), 'Enabled');
    assert.deepEqual(
      [handlerEntries(r.status)[0].status, handlerEntries(r.status)[0].runtimeSettingsStatus.settingsStatus.status.status],
      ['Ready', 'success'],
    );
    // a second start with the same goal state installs nothing again
    const again = await x.once();
    assert.ok(!again.ops.some((l) => l.startsWith('install ')), again.ops.join('\n'));
  });

  test('waagent -daemon (Extensions.GoalStatePeriod=1): new goal states are processed once, status every cycle', async () => {
    await fakeVmId(x.sb, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    x.configure({
      'Provisioning.Agent': 'disabled',
      'Provisioning.MonitorHostName': 'n',
      'ResourceDisk.Format': 'n',
      'ResourceDisk.EnableSwap': 'n',
      'OS.EnableFirewall': 'n',
    });
    await serve(10, plugin('Daemon.Ext', 0));
    x.skipOps();
    await x.newUploads();
    const daemon = x.sb.spawn([WAAGENT, '-daemon']);
    let stderr = '';
    daemon.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
    const all: Json[] = [];
    const reported = (seq: number) => async () => {
      all.push(...(await x.newUploads()));
      const h = all.length ? handlerEntries(all[all.length - 1]).find((e: Json) => e.handlerName === 'Daemon.Ext') : undefined;
      return (
        h?.status === 'Ready' &&
        h.runtimeSettingsStatus?.sequenceNumber === seq &&
        h.runtimeSettingsStatus.settingsStatus.status.status === 'success'
      );
    };
    try {
      await until('Daemon.Ext enabled with settings 0', reported(0));
      await serve(11, plugin('Daemon.Ext', 1));
      await until('Daemon.Ext enabled with settings 1', reported(1));
      const n = all.length;
      const t = Date.now();
      await until(
        'three more cycles',
        async () => {
          all.push(...(await x.newUploads()));
          return all.length >= n + 3;
        },
        10_000,
      );
      assert.ok(Date.now() - t < 8_000, 'about one status upload per second');
      assert.deepEqual(
        x.opsLog().slice(-3),
        [
          'install Daemon.Ext 1.0.0 seq=0 uninstall=NOT_RUN from=',
          'enable Daemon.Ext 1.0.0 seq=0 uninstall=NOT_RUN from=',
          'enable Daemon.Ext 1.0.0 seq=1 uninstall=NOT_RUN from=',
        ],
        'each goal state was processed once, however many cycles ran',
      );
      assert.ok(!x.exists(`${LIB}/Crash.Ext-1.0.0`), 'the handler no longer in the goal state was removed');
      for (const doc of all.slice(n)) assert.deepEqual([goalStateStatus(doc).inSvdSeqNo, goalStateStatus(doc).status], ['11', 'Success']);
    } finally {
      const pid = x.sb.readFile('/var/run/waagent.pid').trim();
      await x.sb.exec(['kill', '-TERM', pid]);
    }
    assert.equal(await exited, 0, stderr);
  });
});

// SIGKILL at each step of an extension install (issue 11), then a restart: the download (a package body the
// emulator trickles), the unzip (a package whose 200 MB entry takes a while to inflate), the enable command, and the
// status upload (held by the emulator). The install command itself is the test above. Each restart must converge to
// Enabled with one completed install, no temporary file or half-extracted directory left in Lib.Dir.
describe('restarts: SIGKILL at the download, the unzip, enable and the status upload, then a restart', () => {
  let x: ExtensionsHarness;
  let inc = 500;
  const plugin = (name: string): PluginSpec => ({
    name,
    version: '1.0.0',
    state: 'enabled',
    manifestUrl: x.blob(`/manifests/${name}.xml`),
    seqNo: 0,
  });
  const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await check())) {
      assert.ok(Date.now() < end, `timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const libEntries = async () => (await x.sh(`ls -A ${LIB}`)).split('\n');

  before(async () => {
    x = await ExtensionsHarness.start();
  });
  after(() => x?.close());

  /** Serves `name` alone, starts the agent, kills it (its process group) once `reached`, then clears `faults`. */
  async function killWhen(name: string, spec: HandlerSpec, reached: () => boolean | Promise<boolean>): Promise<void> {
    const pkg = x.blob(`/pkgs/${name}__1.0.0`);
    await x.register({ [x.blob(`/manifests/${name}.xml`)]: pluginManifest([{ version: '1.0.0', uris: [pkg] }]), [pkg]: handlerZip(spec) });
    inc++;
    await x.serve({ extensionsConfig: extensionsConfig({ incarnation: inc, plugins: [plugin(name)], statusBlob: STATUS_BLOB }) }, inc);
    const agent = x.sb.spawn([WAAGENT, '-run-exthandlers', '-once']);
    const closed = new Promise((r) => agent.once('close', r));
    await until(`the step of ${name} to be reached`, reached);
    if (agent.pid !== undefined) process.kill(-agent.pid, 'SIGKILL');
    await closed;
    await x.emu.control.setFaults([]);
  }

  /** The restart: Enabled, Ready, one completed install in all, nothing half-done left in Lib.Dir. */
  async function converges(name: string): Promise<void> {
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(x.read(`${LIB}/${name}-1.0.0/config/HandlerState`), 'Enabled');
    const e = handlerEntries(r.status).find((h: Json) => h.handlerName === name);
    assert.equal(e?.status, 'Ready', JSON.stringify(handlerEntries(r.status)));
    assert.equal(x.opsLog().filter((l) => l.startsWith(`install ${name} `)).length, 1, x.opsLog().join('\n'));
    assert.ok(x.opsLog().some((l) => l.startsWith(`enable ${name} `)));
    const left = (await libEntries()).filter((n) => /\.tmp$|\.extracting$/.test(n));
    assert.deepEqual(left, [], 'no temporary file or half-extracted directory left');
    x.skipOps();
  }

  test('killed while the package downloads: the restart downloads it again and installs once', async () => {
    const name = 'Kill.Download';
    await x.emu.control.setFaults([{ kind: 'slow', service: 'blob', path: `/pkgs/${name}`, bytes: 64, ms: 100 }]);
    await killWhen(name, { name, version: '1.0.0' }, async () => (await libEntries()).some((n) => n.startsWith(`.${name}__1.0.0.zip.`)));
    assert.ok(!x.exists(`${LIB}/${name}-1.0.0/HandlerManifest.json`), 'killed before anything was unpacked');
    await converges(name);
  });

  test('killed while the package is unzipped: the half-extracted directory is removed, the restart installs once', async () => {
    const name = 'Kill.Unzip';
    const big = { name: 'data/zeros.bin', data: Buffer.alloc(200 * 1024 * 1024) };
    await killWhen(name, { name, version: '1.0.0', extra: [big] }, async () =>
      (await libEntries()).some((n) => n.startsWith(`.${name}-1.0.0.`) && n.endsWith('.extracting')),
    );
    assert.ok(!x.exists(`${LIB}/${name}-1.0.0`), 'killed before the extraction was renamed into place');
    await converges(name);
  });

  test('killed during enable: the restart runs enable again, never install', async () => {
    const name = 'Kill.Enable';
    const enable = `${statusSnippet()}\necho $$ > ../enable-started\nwhile [ ! -e ../enable-go ]; do sleep 0.1; done`;
    await killWhen(name, { name, version: '1.0.0', scripts: { enable } }, () => x.exists(`${LIB}/enable-started`));
    // enable runs in a session of its own: kill its group as the VM's crash would (field 5 of /proc/<pid>/stat)
    const pid = x.read(`${LIB}/enable-started`)!.trim();
    const pgid = x
      .read(`/proc/${pid}/stat`)!
      .replace(/^.*\) /s, '')
      .split(' ')[2];
    await x.sh(`kill -9 -- -${pgid}; touch ${LIB}/enable-go`);
    assert.deepEqual(x.opsLog().slice(-2), [
      `install ${name} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `enable ${name} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
    ]);
    assert.notEqual(x.read(`${LIB}/${name}-1.0.0/config/HandlerState`), 'Enabled', 'enable did not complete');
    await converges(name);
  });

  test('killed while the status is uploaded: the restart uploads it, the handler is not installed again', async () => {
    const name = 'Kill.Status';
    await x.emu.control.setFaults([{ kind: 'delay', method: 'PUT', path: 'status', ms: 120_000 }]);
    // The emulator keeps what it received at once and holds the answer: the agent is killed waiting for it.
    const received = async () => (await x.emu.statusUploads()).length;
    const before = await received();
    await killWhen(name, { name, version: '1.0.0' }, async () => (await received()) > before);
    assert.equal(x.read(`${LIB}/${name}-1.0.0/config/HandlerState`), 'Enabled', 'the handler was enabled before the upload');
    await converges(name);
  });
});
