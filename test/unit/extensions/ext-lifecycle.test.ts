// The handler lifecycle (docs/protocol.md §5.9) against in-memory ports: the order of the commands for
// install / enable / update (and its failure variants) / disable / uninstall / removal, dependencies,
// multi-config, on-hold, required features, invalid handlers, idempotence, and restarts after a kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../../../src/util/errors.ts';
import { createLifecyclePorts } from '../../../src/extensions/lifecycle/adapters.ts';
import { handlerLayout } from '../../../src/extensions/package/index.ts';
import { ExtensionsGoalStateSelector, fromExtensionsConfig, fromVmSettings } from '../../../src/extensions/lifecycle/source.ts';
import { ExtensionsProcessor, sortItems } from '../../../src/extensions/lifecycle/process.ts';
import { ExtHandlerCycle, type FetchedGoalState } from '../../../src/extensions/lifecycle/cycle.ts';
import { parseExtensionsConfig, parseVmSettings } from '../../../src/fabric/documents/index.ts';
import { World, goalState, handler, settings } from './ext-lifecycle-fakes.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const A = 'Microsoft.Test.A';
const B = 'Microsoft.Test.B';

test('a new handler is downloaded, installed and enabled; its state and status say so', async () => {
  const w = new World();
  const r = await w.processor().process(goalState([handler(A, '1.0', { settings: [settings(A, 3)] })]));
  assert.deepEqual(
    w.runs.map((x) => `${x.op} ${x.who} ${x.version}`),
    [`install ${A} 1.0`, `enable ${A} 1.0`],
  );
  assert.equal(w.runs[0]!.env.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, 'NOT_RUN');
  assert.equal(w.runs[1]!.seqNo, 3);
  assert.equal(w.dir(A, '1.0')!.state, 'Enabled');
  assert.deepEqual(w.dir(A, '1.0')!.status, { status: 'Ready', code: 0, message: 'Plugin enabled' });
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['3.settings']);
  assert.deepEqual(r.outcome && { status: r.outcome.status, code: r.outcome.code, message: r.outcome.message }, {
    status: 'Success',
    code: 0,
    message: 'GoalState executed successfully',
  });
  assert.deepEqual(
    r.handlers.map((h) => `${h.name} ${h.version}`),
    [`${A} 1.0`],
  );
});

test('a handler without settings gets an empty settings list and sequence number 0', async () => {
  const w = new World();
  await w.processor().process(goalState([handler(A, '1.0', { settings: [] })]));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['0.settings']);
});

test('every new goal state enables again (§5.9), the sequence number unchanged or not, never installing again', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0', { settings: [settings(A, 1)] })]));
  w.take();
  await p.process(goalState([handler(A, '1.0', { settings: [settings(A, 1)] })]));
  assert.deepEqual(w.take(), [`enable ${A} 1.0`]);
  await p.process(goalState([handler(A, '1.0', { settings: [settings(A, 2)] })]));
  assert.deepEqual(w.take(), [`enable ${A} 1.0`]);
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['1.settings', '2.settings']);
  // A restarted agent enables once more (extensions expect an enable at every agent start), never installs.
  await w.processor().process(goalState([handler(A, '1.0', { settings: [settings(A, 2)] })]));
  assert.deepEqual(w.take(), [`enable ${A} 1.0`]);
});

test('the version comes from the manifest: the highest one the requested version is a prefix of', async () => {
  const w = new World();
  w.available.set(A, ['1.0.1', '1.0.5', '1.1.0']);
  const r = await w.processor().process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), [`install ${A} 1.0.5`, `enable ${A} 1.0.5`]);
  assert.equal(r.handlers[0]!.version, '1.0.5');
});

test('an upgrade runs old disable, new update, old uninstall, new install, new enable, with the exit codes', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.dir(A, '1.0')!.statusFiles.set('0.status', 'old status');
  w.take();
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(
    w.runs.map((x) => `${x.op} ${x.who} ${x.version}`),
    [`disable ${A} 1.0`, `update ${A} 1.1`, `uninstall ${A} 1.0`, `install ${A} 1.1`, `enable ${A} 1.1`],
  );
  const update = w.runs[1]!.env;
  assert.equal(update.VERSION, '1.1');
  assert.equal(update.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION, '1.0');
  assert.equal(update.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, '0');
  assert.equal(w.runs[3]!.env.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, '0');
  assert.equal(w.runs[4]!.env.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, '0');
  assert.equal(w.dir(A, '1.0'), undefined, 'the old directory is gone');
  assert.equal(w.dir(A, '1.1')!.state, 'Enabled');
  assert.equal(w.dir(A, '1.1')!.statusFiles.get('0.status'), 'old status', 'status files were copied over');
});

test('UpdateWithoutInstall skips install during an update', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  w.manifests.set(`${A} 1.1`, { updateWithInstall: false });
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `update ${A} 1.1`, `uninstall ${A} 1.0`, `enable ${A} 1.1`]);
  assert.equal(w.dir(A, '1.1')!.state, 'Enabled');
});

test('a downgrade runs the OLD handler update command with VERSION set to the new version', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '2.0')]));
  w.take();
  await p.process(goalState([handler(A, '1.0')]));
  assert.deepEqual(
    w.runs.map((x) => `${x.op} ${x.who} ${x.version}`),
    [`disable ${A} 2.0`, `update ${A} 2.0`, `uninstall ${A} 2.0`, `install ${A} 1.0`, `enable ${A} 1.0`],
  );
  assert.equal(w.runs[1]!.env.VERSION, '1.0');
});

test('an old disable failure stops the update with 1008 unless continueOnUpdateFailure is set', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  w.failures.set(`disable ${A} 1.0`, 7);
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`]);
  const st = w.dir(A, '1.1')!.status!;
  assert.equal(st.status, 'NotReady');
  assert.equal(st.code, 1008);
  assert.match(st.message, /Non-zero exit code: 7.*ContinueOnUpdate: false/s);
  assert.equal(w.dir(A, '1.0')!.state, 'Enabled', 'the old version is left enabled');

  w.manifests.set(`${A} 1.1`, { continueOnUpdateFailure: true });
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(
    w.runs.map((x) => `${x.op} ${x.who} ${x.version}`),
    [`disable ${A} 1.0`, `update ${A} 1.1`, `uninstall ${A} 1.0`, `install ${A} 1.1`, `enable ${A} 1.1`],
  );
  assert.equal(w.runs[1]!.env.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, '7');
  assert.equal(w.dir(A, '1.1')!.state, 'Enabled');
});

test('a failed update marks the new version FailedUpgrade, keeps the old one, and is retried next goal state', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  w.failures.set(`update ${A} 1.1`, 1);
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `update ${A} 1.1`]);
  assert.equal(w.dir(A, '1.1')!.state, 'FailedUpgrade');
  assert.equal(w.dir(A, '1.1')!.status!.code, 1008);
  assert.equal(w.dir(A, '1.0')!.state, 'Installed');
  w.failures.clear();
  const r = await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`update ${A} 1.1`, `uninstall ${A} 1.0`, `install ${A} 1.1`, `enable ${A} 1.1`]);
  assert.equal(r.handlers[0]!.version, '1.1');
});

test('an old uninstall failure: 1008 without continueOnUpdateFailure; with it, the exit code reaches install', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  w.manifests.set(A, { continueOnUpdateFailure: true });
  w.failures.set(`uninstall ${A} 1.0`, 4);
  await p.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `update ${A} 1.1`, `uninstall ${A} 1.0`, `install ${A} 1.1`, `enable ${A} 1.1`]);
  assert.equal(w.dir(A, '1.0'), undefined);
});

test('requested disabled: disable runs once, the handler is Installed and NotReady "Plugin disabled"', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  await p.process(goalState([handler(A, '1.0', { state: 'disabled' })]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`]);
  assert.equal(w.dir(A, '1.0')!.state, 'Installed');
  assert.deepEqual(w.dir(A, '1.0')!.status, { status: 'NotReady', code: 0, message: 'Plugin disabled' });
  await p.process(goalState([handler(A, '1.0', { state: 'disabled' })]));
  assert.deepEqual(w.take(), []);
});

test('uninstall disables, uninstalls and deletes; an uninstall failure still deletes', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0'), handler(B, '1.0')]));
  w.take();
  w.failures.set(`uninstall ${B} 1.0`, 3);
  await p.process(goalState([handler(A, '1.0', { state: 'uninstall' }), handler(B, '1.0', { state: 'uninstall' })]));
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `uninstall ${A} 1.0`, `disable ${B} 1.0`, `uninstall ${B} 1.0`]);
  assert.equal(w.dirs.size, 0);
});

test('handlers no longer in the goal state are deleted without running any command', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0'), handler(B, '1.0')]));
  w.take();
  await p.process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), [`enable ${A} 1.0`], 'A is enabled again (§5.9); B is removed without a command');
  assert.equal(w.dir(B, '1.0'), undefined);
  assert.ok(w.dir(A, '1.0'));
});

test('items are sorted by dependency level, removals first in reverse order', () => {
  const h1 = handler('L1', '1', { settings: [settings('L1', 0, { dependencyLevel: 1 })] });
  const h2 = handler('L2', '1', { settings: [settings('L2', 0, { dependencyLevel: 2 })] });
  const u1 = handler('U1', '1', { state: 'uninstall', settings: [settings('U1', 0, { dependencyLevel: 1 })] });
  const u2 = handler('U2', '1', { state: 'uninstall', settings: [settings('U2', 0, { dependencyLevel: 2 })] });
  const none = handler('N', '1', { settings: [] });
  assert.deepEqual(
    sortItems([h2, u1, h1, none, u2]).map((i) => `${i.handler.name}:${i.level}`),
    ['U2:-3', 'U1:-2', 'N:0', 'L1:1', 'L2:2'],
  );
});

test('dependencies: a lower level is waited for until success; an error skips the rest with -1', async () => {
  const mk = () => [
    handler(B, '1.0', { settings: [settings(B, 0, { dependencyLevel: 2 })] }),
    handler(A, '1.0', { settings: [settings(A, 0, { dependencyLevel: 1 })] }),
  ];
  const w = new World();
  w.extStatus.set(`${A}||0`, 'success');
  await w.processor().process(goalState(mk()));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`, `install ${B} 1.0`, `enable ${B} 1.0`]);

  const w2 = new World();
  w2.extStatus.set(`${A}||0`, 'error');
  await w2.processor().process(goalState(mk()));
  assert.deepEqual(w2.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.equal(w2.dir(B, '1.0')!.status!.code, -1);
  assert.match(w2.dir(B, '1.0')!.status!.message, /Dependent Extension Microsoft.Test.A did not succeed/);
});

test('dependencies: a status that never turns terminal times out; a failed dependency is not waited for', async () => {
  const mk = () => [
    handler(A, '1.0', { settings: [settings(A, 0, { dependencyLevel: 1 })] }),
    handler(B, '1.0', { settings: [settings(B, 0, { dependencyLevel: 2 })] }),
  ];
  const w = new World();
  w.extStatus.set(`${A}||0`, 'transitioning');
  const start = w.now;
  await w.processor().process(goalState(mk()));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.ok(w.now - start >= 60_000, 'waited until the timeout');
  assert.match(
    w.dir(B, '1.0')!.status!.message,
    /did not reach a terminal state within the allowed timeout\. Last status was transitioning/,
  );

  const w2 = new World();
  w2.failures.set(`enable ${A} 1.0`, 2);
  await w2.processor().process(goalState(mk()));
  assert.deepEqual(w2.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.equal(w2.dir(A, '1.0')!.status!.code, 1009);
  assert.match(w2.dir(B, '1.0')!.status!.message, /execution of dependent extension Microsoft.Test.A failed/);
});

test('multi-config: one install, an enable per extension; a disabled extension is disabled and its files removed', async () => {
  const w = new World();
  w.manifests.set(A, { supportsMultipleExtensions: true });
  const p = w.processor();
  const mc = (s2: 'enabled' | 'disabled') =>
    handler(A, '1.0', { isMultiConfig: true, settings: [settings('one', 1), settings('two', 5, { state: s2 })] });
  await p.process(goalState([mc('enabled')]));
  // install runs once, in the context of the first extension (ConfigExtensionName), as the Python agent does.
  assert.deepEqual(w.take(), [`install ${A}.one 1.0`, `enable ${A}.one 1.0`, `enable ${A}.two 1.0`]);
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['one.1.settings', 'two.5.settings']);
  assert.equal(w.dir(A, '1.0')!.extStates.get('two'), 'enabled');
  await p.process(goalState([mc('disabled')]));
  // the disabled extension sorts first (removals run before enables, §5.9 step 3)
  assert.deepEqual(w.take(), [`disable ${A}.two 1.0`, `enable ${A}.one 1.0`]);
  assert.equal(w.dir(A, '1.0')!.extStates.get('two'), 'disabled');
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['one.1.settings'], 'the disabled extension settings are gone');
  await p.process(goalState([mc('disabled')]));
  assert.deepEqual(w.take(), [`enable ${A}.one 1.0`], 'an extension already disabled is left alone');
  assert.deepEqual(w.dir(A, '1.0')!.settings, ['one.1.settings']);
  assert.equal(w.dir(A, '1.0')!.state, 'Enabled', 'one extension is still enabled');
  await p.process(goalState([handler(A, '1.0', { state: 'uninstall', isMultiConfig: true, settings: [settings('one', 1)] })]));
  assert.deepEqual(w.take(), [`disable ${A}.one 1.0`, `uninstall ${A}.one 1.0`]);
});

test('multi-config: an enable failure is reported in the extension status only; a handler failure in both', async () => {
  const w = new World();
  w.manifests.set(A, { supportsMultipleExtensions: true });
  w.failures.set(`enable ${A}.two 1.0`, 9);
  const gs = () => goalState([handler(A, '1.0', { isMultiConfig: true, settings: [settings('one', 1), settings('two', 2)] })]);
  await w.processor().process(gs());
  assert.deepEqual(w.dir(A, '1.0')!.status, { status: 'Ready', code: 0, message: 'Plugin enabled' });
  assert.equal(w.placeholders.length, 1);
  assert.equal(w.placeholders[0]!.key, `${A}-1.0/two.2`);
  assert.equal(w.placeholders[0]!.code, 1009);
  assert.equal(w.placeholders[0]!.overwrite, false);

  const w2 = new World(); // the handler does not support multiple extensions
  await w2.processor().process(gs());
  assert.deepEqual(w2.take(), []);
  assert.equal(w2.dir(A, '1.0')!.status!.code, 1002);
  assert.equal(w2.placeholders.length, 2);
  assert.ok(w2.placeholders.every((p) => p.overwrite && p.code === 1002));
});

test('on hold: nothing runs and there is no goal-state aggregate status', async () => {
  const w = new World();
  const r = await w.processor().process(goalState([handler(A, '1.0')], { onHold: true }));
  assert.deepEqual(w.take(), []);
  assert.equal(r.outcome, null);
  const r2 = await w.processor({ honourOnHold: false }).process(goalState([handler(A, '1.0')], { onHold: true }));
  assert.equal(r2.outcome!.status, 'Success');
  assert.equal(w.take().length, 2);
});

test('an unsupported required feature fails the goal state with 2001, touches nothing, reports handlers on disk', async () => {
  const w = new World();
  const p = w.processor();
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  const r = await p.process(goalState([handler(B, '1.0')], { requiredFeatures: ['MultipleExtensionsPerHandler', 'TimeTravel'] }));
  assert.deepEqual(w.take(), []);
  assert.equal(r.outcome!.status, 'Failed');
  assert.equal(r.outcome!.code, 2001);
  assert.match(r.outcome!.message, /Unsupported features found: TimeTravel/);
  assert.deepEqual(
    r.handlers.map((h) => h.name),
    [A],
  );
  assert.ok(w.dir(A, '1.0'), 'no cleanup after an unsupported-features failure');
});

test('an invalid handler is reported as an error (fail fast) and the others are still processed', async () => {
  const w = new World();
  const bad = handler(A, '1.0', {
    invalidReason: 'PluginSettings Version Mismatch: the handler is version 1.0 but its PluginSettings have version 2.0',
  });
  const r = await w.processor().process(goalState([bad, handler(B, '1.0')]));
  assert.deepEqual(w.take(), [`install ${B} 1.0`, `enable ${B} 1.0`]);
  const st = w.dir(A, '1.0')!.status!;
  assert.equal(st.status, 'NotReady');
  assert.equal(st.code, -1);
  assert.match(st.message, /^Ran into config errors: PluginSettings Version Mismatch/);
  assert.equal(r.outcome!.status, 'Success');
});

test('Extensions.Enabled=n: no command runs and every handler reports why', async () => {
  const w = new World();
  await w.processor({ extensionsEnabled: false, configPath: '/etc/my.conf' }).process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), []);
  assert.match(w.dir(A, '1.0')!.status!.message, /extension processing is disabled.*Extensions\.Enabled=y in '\/etc\/my\.conf'/);
});

test('download, manifest and timeout failures carry their codes', async () => {
  const w = new World();
  w.downloadFails = true;
  await w.processor().process(goalState([handler(A, '1.0')]));
  assert.equal(w.dir(A, '1.0')!.status!.code, 1004);
  assert.match(w.dir(A, '1.0')!.status!.message, /^Failed to download artifacts: .*HTTP 500/);

  const w2 = new World();
  w2.available.set(A, ['2.0']);
  await w2.processor().process(goalState([handler(A, '1.0')]));
  assert.equal(w2.dir(A, '1.0')!.status!.code, 1001);
  assert.match(w2.dir(A, '1.0')!.status!.message, /Unable to find version 1.0/);

  const w3 = new World();
  w3.failures.set(`install ${A} 1.0`, 'timeout');
  await w3.processor().process(goalState([handler(A, '1.0')]));
  assert.equal(w3.dir(A, '1.0')!.status!.code, 1011);
  assert.equal(w3.dir(A, '1.0')!.state, 'NotInstalled');
  assert.deepEqual(w3.take(), [`install ${A} 1.0`]);
});

test('the error a command result carries is what the lifecycle reports: its code and message as they are', async () => {
  // a code and a message no operation has: the lifecycle must not make up its own
  const failure = new AgentError('extension', 'whatever the runner said\n[stderr]\nno', { code: 4242, exitCode: 17 });
  const w = new World();
  w.errors.set(`enable ${A} 1.0`, failure);
  await w.processor().process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.dir(A, '1.0')!.status, { status: 'NotReady', code: 4242, message: failure.message });
  assert.equal(w.dir(A, '1.0')!.state, 'Installed');

  // multi-config: the failed extension's own status gets the same code
  const m = new World();
  m.manifests.set(A, { supportsMultipleExtensions: true });
  m.errors.set(`enable ${A}.two 1.0`, failure);
  await m.processor().process(goalState([handler(A, '1.0', { isMultiConfig: true, settings: [settings('one', 1), settings('two', 2)] })]));
  assert.deepEqual(
    m.placeholders.map((p) => [p.key, p.code, p.message]),
    [[`${A}-1.0/two.2`, 4242, `Error processing MultiConfig extension ${A}.two: ${failure.message}`]],
  );
});

test('the update flow hands on the exit code a failure carries, or its code when it has none (a timeout)', async () => {
  const disableFailure = new AgentError('extension', 'the old disable failed', { code: 4242, exitCode: 17 });
  const w = new World();
  const p = w.processor();
  w.manifests.set(A, { continueOnUpdateFailure: true });
  await p.process(goalState([handler(A, '1.0')]));
  w.take();
  w.errors.set(`disable ${A} 1.0`, disableFailure);
  w.failures.set(`uninstall ${A} 1.0`, 'timeout');
  await p.process(goalState([handler(A, '1.1')]));
  const env = (op: string) => w.runs.find((r) => r.op === op)!.env;
  assert.equal(env('update').AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, '17');
  assert.equal(env('install').AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, '1011');
  assert.equal(w.dir(A, '1.1')!.state, 'Enabled');

  // without continueOnUpdateFailure the update fails with its own code, the failure's message kept
  const s = new World();
  const sp = s.processor();
  await sp.process(goalState([handler(A, '1.0')]));
  s.errors.set(`disable ${A} 1.0`, disableFailure);
  await sp.process(goalState([handler(A, '1.1')]));
  assert.deepEqual(s.dir(A, '1.1')!.status, { status: 'NotReady', code: 1008, message: 'the old disable failed; ContinueOnUpdate: false' });
});

test('killed during install or before it is recorded: the restart installs again; once recorded, never again', async () => {
  const w = new World();
  w.killAt = { key: `install ${A} 1.0`, when: 'during' };
  await w
    .processor()
    .process(goalState([handler(A, '1.0')]))
    .catch(() => {});
  assert.deepEqual(w.take(), [`install ${A} 1.0`]);
  w.restart();
  await w.processor().process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);

  const w2 = new World();
  w2.killAt = { key: `install ${A} 1.0`, when: 'after' };
  await w2
    .processor()
    .process(goalState([handler(A, '1.0')]))
    .catch(() => {});
  w2.take();
  w2.restart();
  // The kill came before HandlerState was written: install had not been recorded, so it runs again.
  await w2.processor().process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w2.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  w2.killAt = { key: `enable ${A} 1.0`, when: 'during' };
  await w2
    .processor()
    .process(goalState([handler(A, '1.0', { settings: [settings(A, 1)] })]))
    .catch(() => {});
  w2.take();
  w2.restart();
  await w2.processor().process(goalState([handler(A, '1.0', { settings: [settings(A, 1)] })]));
  assert.deepEqual(w2.take(), [`enable ${A} 1.0`], 'installed once: a restart never installs again');
});

test('killed during an update after the old disable: the restart does not disable again and converges', async () => {
  const w = new World();
  await w.processor().process(goalState([handler(A, '1.0')]));
  w.take();
  w.killAt = { key: `update ${A} 1.1`, when: 'during' };
  await w
    .processor()
    .process(goalState([handler(A, '1.1')]))
    .catch(() => {});
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `update ${A} 1.1`]);
  w.restart();
  await w.processor().process(goalState([handler(A, '1.1')]));
  assert.deepEqual(w.take(), [`update ${A} 1.1`, `uninstall ${A} 1.0`, `install ${A} 1.1`, `enable ${A} 1.1`]);
  assert.deepEqual([...w.dirs.keys()], [`${A}-1.1`]);
  assert.equal(w.dir(A, '1.1')!.state, 'Enabled');
});

test('killed during uninstall: the restart finishes the removal', async () => {
  const w = new World();
  await w.processor().process(goalState([handler(A, '1.0')]));
  w.take();
  w.killAt = { key: `uninstall ${A} 1.0`, when: 'during' };
  await w
    .processor()
    .process(goalState([handler(A, '1.0', { state: 'uninstall' })]))
    .catch(() => {});
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `uninstall ${A} 1.0`]);
  w.restart();
  await w.processor().process(goalState([handler(A, '1.0', { state: 'uninstall' })]));
  assert.deepEqual(w.take(), [`uninstall ${A} 1.0`], 'disable is not run twice');
  assert.equal(w.dirs.size, 0);
});

// ---- the source of the extensions goal state (§2.10)

const EC = (incarnation: string, ticks: string) =>
  fromExtensionsConfig(
    incarnation,
    parseExtensionsConfig(
      `<Extensions goalStateIncarnation="${incarnation}"><Plugins/><InVMGoalStateMetaData createdOnTicks="${ticks}" inSvdSeqNo="${incarnation}"/></Extensions>`,
    ),
  );
const VM = (etag: string, ticks: string, source = 'FastTrack') =>
  fromVmSettings(
    etag,
    parseVmSettings(`{"extensionGoalStatesSource":"${source}","extensionsLastModifiedTickCount":${ticks},"inSvdSeqNo":7}`),
  );

test('source selection: newer of the two on a new incarnation, vmSettings alone, never older, Fabric vmSettings ignored', () => {
  const s = new ExtensionsGoalStateSelector();
  assert.equal(s.select(EC('1', '100'), null)!.id, 'incarnation_1');
  assert.equal(s.select(null, VM('a', '200'))!.id, 'etag_a');
  assert.equal(s.current!.inSvdSeqNo, '7');
  // A new incarnation older than the Fast Track goal state does not replace it.
  assert.equal(s.select(EC('2', '150'), null)!.id, 'etag_a');
  assert.equal(s.select(EC('3', '300'), null)!.id, 'incarnation_3');
  // An older vmSettings never replaces a newer goal state; a Fabric-sourced one is ignored.
  assert.equal(s.select(null, VM('b', '250'))!.id, 'incarnation_3');
  assert.equal(s.select(null, VM('c', '900', 'Fabric'))!.id, 'incarnation_3');
  assert.equal(s.select(null, VM('d', '400'))!.id, 'etag_d');
  assert.equal(s.select(null, null)!.id, 'etag_d');
});

// ---- one loop iteration (§7.1, §10 item 9)

test('the cycle reports status every time: after a failed fetch, and without reprocessing an unchanged goal state', async () => {
  const reports: Array<{ blob: string | null; gs: string | null; handlers: number }> = [];
  const processed: string[] = [];
  let next: () => Promise<FetchedGoalState> = async () => ({
    fabric: EC('1', '100'),
    vmSettings: null,
    fabricStatusBlob: { url: 'https://acct/status?sig=1', type: 'BlockBlob' },
  });
  const cycle = new ExtHandlerCycle({
    fetch: () => next(),
    process: async (gs) => {
      processed.push(gs.id);
      if (gs.id === 'incarnation_3') throw new Error('the lib dir is not writable');
      return {
        outcome: {
          status: 'Success',
          code: 0,
          message: 'GoalState executed successfully',
          inSvdSeqNo: gs.inSvdSeqNo,
          timestamp: new Date(0),
        },
        handlers: [{ name: A, version: '1.0', state: 'enabled', isMultiConfig: false, useExactVersion: true, extensions: [] }],
      };
    },
    report: async (s) => {
      reports.push({ blob: s.blob.url, gs: s.goalState?.inSvdSeqNo ?? null, handlers: s.handlers.length });
    },
  });
  await cycle.iterate();
  next = async () => ({ fabric: null, vmSettings: null, fabricStatusBlob: null });
  await cycle.iterate();
  next = async () => {
    throw new Error('the WireServer answered 500');
  };
  await cycle.iterate();
  next = async () => ({ fabric: EC('3', '300'), vmSettings: null, fabricStatusBlob: null });
  await cycle.iterate();
  await cycle.iterate();
  assert.deepEqual(processed, ['incarnation_1', 'incarnation_3'], 'each goal state is processed once, even when it failed');
  assert.equal(reports.length, 5, 'one status report per iteration');
  assert.ok(reports.every((r) => r.blob === 'https://acct/status?sig=1' && r.gs === '1' && r.handlers === 1));
});

test('the cycle does not die when reporting fails, and keeps going', async () => {
  let reports = 0;
  const cycle = new ExtHandlerCycle({
    fetch: async () => ({ fabric: EC('1', '1'), vmSettings: null, fabricStatusBlob: null }),
    process: async () => ({ outcome: null, handlers: [] }),
    report: async () => {
      reports += 1;
      throw new Error('both channels failed');
    },
  });
  await cycle.iterate();
  await cycle.iterate();
  assert.equal(reports, 2);
  assert.equal(cycle.processedId, 'incarnation_1');
});

// ---- the adapters on a real lib dir

test('adapters: state files, multi-config extension files, placeholders, handlers on disk and orphan zips', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ext-adapters-'));
  try {
    const libDir = join(root, 'lib');
    const ports = createLifecyclePorts({
      roots: { libDir, logDir: join(root, 'log') },
      download: {} as never,
      wireServerAddress: '127.0.0.1',
      useSystemd: false,
    });
    assert.equal(ports.state.handlerState(A, '1.0'), 'NotInstalled');
    ports.state.setHandlerState(A, '1.0', 'Enabled');
    assert.equal(readFileSync(join(libDir, `${A}-1.0`, 'config', 'HandlerState'), 'utf8'), 'Enabled');
    ports.state.setHandlerStatus(A, '1.0', { status: 'Ready', code: 0, message: 'Plugin enabled' }, true);
    assert.deepEqual(ports.state.handlerStatus(A, '1.0'), { status: 'Ready', code: 0, message: 'Plugin enabled' });
    assert.equal(JSON.parse(readFileSync(join(libDir, `${A}-1.0`, 'config', 'HandlerStatus'), 'utf8')).supports_multi_config, true);

    ports.packages.writeSettings(A, '1.0', [settings('one', 1), settings('two', 2)], true);
    ports.state.setExtensionState(A, '1.0', 'one', 'enabled');
    ports.state.setExtensionState(A, '1.0', 'two', 'enabled');
    assert.deepEqual(ports.state.enabledExtensions(A, '1.0'), ['one', 'two']);
    ports.statuses.writePlaceholder(A, '1.0', 'two', 2, { operation: 'Enable', status: 'error', code: 1009, message: 'boom' }, false);
    const status2 = join(libDir, `${A}-1.0`, 'status', 'two.2.status');
    assert.equal(JSON.parse(readFileSync(status2, 'utf8'))[0].status.name, `${A}.two`);
    assert.equal(await ports.statuses.statusOf(A, '1.0', 'two', 2), 'error');
    assert.equal(await ports.statuses.statusOf(A, '1.0', 'one', 1), null, 'no status file yet');
    // overwrite=false keeps the extension's own status; overwrite=true replaces it
    ports.statuses.writePlaceholder(A, '1.0', 'two', 2, { operation: 'Enable', status: 'error', code: 7, message: 'x' }, false);
    assert.equal(JSON.parse(readFileSync(status2, 'utf8'))[0].status.code, 1009);
    ports.statuses.writePlaceholder(A, '1.0', 'two', 2, { operation: 'Enable', status: 'error', code: 7, message: 'x' }, true);
    assert.equal(JSON.parse(readFileSync(status2, 'utf8'))[0].status.code, 7);

    ports.state.setExtensionState(A, '1.0', 'two', 'disabled');
    ports.packages.removeExtensionFiles(A, '1.0', 'two');
    assert.deepEqual(ports.state.enabledExtensions(A, '1.0'), ['one']);
    assert.deepEqual(readdirSync(join(libDir, `${A}-1.0`, 'config')).sort(), [
      'HandlerState',
      'HandlerStatus',
      'one.1.settings',
      'one.HandlerState',
    ]);
    assert.ok(!existsSync(status2));

    ports.packages.writeSettings(B, '2.0', [], false);
    assert.equal(readFileSync(join(libDir, `${B}-2.0`, 'config', '0.settings'), 'utf8'), '');
    mkdirSync(join(libDir, 'WALinuxAgent-9.9.9.9'));
    writeFileSync(join(libDir, `${B}__3.0.zip`), 'orphan');
    writeFileSync(join(libDir, `${B}__2.0.zip`), 'kept: its directory exists');
    assert.deepEqual(
      ports.packages
        .handlersOnDisk()
        .map((h) => `${h.name} ${h.version}`)
        .sort(),
      [`${A} 1.0`, `${B} 2.0`],
    );
    ports.packages.removeOrphanPackages();
    assert.ok(!existsSync(join(libDir, `${B}__3.0.zip`)));
    assert.ok(existsSync(join(libDir, `${B}__2.0.zip`)));
    ports.packages.removeHandler(B, '2.0');
    assert.ok(!existsSync(join(libDir, `${B}-2.0`)) && !existsSync(join(libDir, `${B}__2.0.zip`)));
    assert.ok(existsSync(join(libDir, 'WALinuxAgent-9.9.9.9')), 'the agent package is never touched');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('adapters: a real command that fails is reported with the code and the message its result carries (§5.8)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ext-adapters-'));
  try {
    const roots = { libDir: join(root, 'lib'), logDir: join(root, 'log') };
    const real = createLifecyclePorts({ roots, download: {} as never, wireServerAddress: '127.0.0.1', useSystemd: false });
    // the package is unpacked already: no manifest or package download
    const ports = { ...real, packages: { ...real.packages, chooseVersion: async () => '1.0', installPackage: async () => {} } };
    const l = handlerLayout(roots, A, '1.0');
    mkdirSync(l.baseDir, { recursive: true });
    writeFileSync(join(l.baseDir, 'install.sh'), 'exit 0\n', { mode: 0o755 });
    writeFileSync(join(l.baseDir, 'enable.sh'), 'echo about to fail; echo oops >&2; exit 3\n', { mode: 0o755 });
    const hm = {
      installCommand: 'install.sh',
      uninstallCommand: 'install.sh',
      updateCommand: 'install.sh',
      enableCommand: '/enable.sh',
      disableCommand: 'install.sh',
    };
    writeFileSync(l.manifestFile, JSON.stringify([{ name: A, version: 1.0, handlerManifest: hm }]));
    const processor = new ExtensionsProcessor({
      ports,
      extensionsEnabled: true,
      supportedFeatures: [],
      honourOnHold: true,
      configPath: '/etc/waagent.conf',
    });
    await processor.process(goalState([handler(A, '1.0')]));
    assert.equal(ports.state.handlerState(A, '1.0'), 'Installed');
    assert.deepEqual(ports.state.handlerStatus(A, '1.0'), {
      status: 'NotReady',
      code: 1009,
      message: `Non-zero exit code: 3, /enable.sh (enable of ${A} 1.0)\n[stdout]\nabout to fail\n\n\n[stderr]\noops`,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---- the recorded goal states (fixtures, verbatim)

const recorded = (dir: string, name: string) => readFileSync(join(FIXTURES, 'tests', 'data', dir, name), 'utf8');
const recordedEc = (name: string) => fromExtensionsConfig('1', parseExtensionsConfig(recorded('wire', name)));

test('recorded ext_conf_sequencing.xml: the level-1 handler runs and is waited for before the level-2 one', async () => {
  const gs = recordedEc('ext_conf_sequencing.xml');
  const w = new World();
  for (const h of gs.handlers) w.extStatus.set(`${h.name}||${h.settings[0]!.seqNo}`, 'success');
  await w.processor().process(gs);
  assert.deepEqual(w.take(), [
    'install OSTCExtensions.OtherExampleHandlerLinux 1.0.0',
    'enable OSTCExtensions.OtherExampleHandlerLinux 1.0.0',
    'install OSTCExtensions.ExampleHandlerLinux 1.0.0',
    'enable OSTCExtensions.ExampleHandlerLinux 1.0.0',
  ]);
});

test('recorded ext_conf_invalid_and_valid_handlers.xml: the invalid handler reports an error, the valid one runs', async () => {
  const gs = recordedEc('ext_conf_invalid_and_valid_handlers.xml');
  const w = new World();
  const r = await w.processor().process(gs);
  assert.deepEqual(w.take(), [
    'install OSTCExtensions.ValidExampleHandlerLinux 1.0.0',
    'enable OSTCExtensions.ValidExampleHandlerLinux 1.0.0',
  ]);
  const bad = w.dir('OSTCExtensions.InvalidExampleHandlerLinux', '1.0.0')!.status!;
  assert.equal(bad.status, 'NotReady');
  assert.match(bad.message, /^Ran into config errors: /);
  assert.equal(r.outcome!.status, 'Success');
});

test('recorded ext_conf_required_features.xml: TestRequiredFeature1 is unsupported, the goal state fails with 2001', async () => {
  const w = new World();
  const r = await w.processor().process(recordedEc('ext_conf_required_features.xml'));
  assert.deepEqual(w.take(), []);
  assert.equal(r.outcome!.code, 2001);
  assert.match(r.outcome!.message, /TestRequiredFeature1/);
});

test('recorded vm_settings.json (Fast Track, on hold): held; then multi-config extensions by dependency level', async () => {
  const gs = fromVmSettings('etag1', parseVmSettings(recorded('hostgaplugin', 'vm_settings.json')));
  assert.equal(gs.source, 'FastTrack');
  const w = new World();
  w.manifests.set('Microsoft.CPlat.Core.RunCommandHandlerLinux', { supportsMultipleExtensions: true });
  for (const h of gs.handlers)
    for (const s of h.settings) w.extStatus.set(`${h.name}|${h.isMultiConfig ? s.name : ''}|${s.seqNo}`, 'success');
  assert.equal(gs.onHold, true, 'the recording is on hold');
  assert.equal((await w.processor().process(gs)).outcome, null);
  assert.deepEqual(w.take(), []);
  const r = await w.processor({ honourOnHold: false }).process(gs);
  const ran = w.take();
  assert.equal(r.outcome!.status, 'Success');
  const first = (x: string) => ran.findIndex((c) => c.startsWith(x));
  // levels: MCExt3 and the single-config ones 0, CustomScript and MCExt2 1, MCExt1 2
  const rc = 'enable Microsoft.CPlat.Core.RunCommandHandlerLinux.';
  assert.ok(first(`${rc}MCExt3`) < first('enable Microsoft.Azure.Extensions.CustomScript'));
  assert.ok(first('enable Microsoft.OSTCExtensions.VMAccessForLinux') < first(`${rc}MCExt2`));
  assert.ok(first(`${rc}MCExt1`) > first(`${rc}MCExt2`));
  assert.ok(first(`${rc}MCExt1`) > first('enable Microsoft.Azure.Extensions.CustomScript'));
  assert.equal(ran.filter((c) => c.startsWith('install Microsoft.CPlat.Core.RunCommandHandlerLinux')).length, 1);
  assert.equal(ran.filter((c) => c.startsWith('install ')).length, gs.handlers.length, 'each handler installed once');
});
