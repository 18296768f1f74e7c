// The extension policy and signature enforcement in the lifecycle (upstream ExtHandlersHandler with
// ExtensionPolicyEngine): which handlers run, the status and code of the blocked ones, and what is left installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLifecyclePorts } from '../../../src/extensions/lifecycle/adapters.ts';
import { collectHandlerStatuses } from '../../../src/extensions/lifecycle/report.ts';
import { handlerLayout, writeHandlerState, writeHandlerStatus } from '../../../src/extensions/package/index.ts';
import { invalidPolicy, parsePolicy, policyOf, type ExtensionPolicy } from '../../../src/extensions/policy.ts';
import { World, goalState, handler, settings } from './ext-lifecycle-fakes.ts';

const A = 'Microsoft.Test.A';
const B = 'Microsoft.Test.B';
const FILE = '/etc/waagent_policy.json';

function policy(extensionPolicies: object): ExtensionPolicy {
  const text = JSON.stringify({ policyVersion: '0.1.0', extensionPolicies });
  return policyOf(parsePolicy(JSON.parse(text), FILE), text);
}

function processor(w: World, p: ExtensionPolicy | (() => ExtensionPolicy), saved: string[] = []) {
  return w.processor({ loadPolicy: typeof p === 'function' ? p : () => p, policyFilePath: FILE, onPolicy: (t) => saved.push(t) });
}

const notAllowed = (op: string, name: string) =>
  `Extension will not be processed: failed to ${op} extension '${name}' because it is not specified as an allowed extension. ` +
  `To ${op}, add the extension to the list of allowed extensions in the policy file ('${FILE}').`;
const mustBeSigned = (name: string, op = 'run') =>
  `Extension will not be processed: failed to ${op} extension '${name}' because policy specifies that extension must be signed, ` +
  `but extension package signature could not be found. To ${op}, set 'signatureRequired' to false in the policy file ('${FILE}').`;

test('allow list: a listed extension runs; another is not run, reported NotReady 1009 with upstream message and an error status file', async () => {
  const w = new World();
  const saved: string[] = [];
  const p = policy({ allowListedExtensionsOnly: true, extensions: { [A.toLowerCase()]: {} } });
  const r = await processor(w, p, saved).process(goalState([handler(A, '1.0'), handler(B, '2.0', { settings: [settings(B, 4)] })]));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.deepEqual(w.dir(B, '2.0')?.status, { status: 'NotReady', code: 1009, message: notAllowed('run', B) });
  assert.equal(w.dir(B, '2.0')?.state, null, 'nothing of B was installed');
  assert.deepEqual(w.placeholders, [{ key: `${B}-2.0/null.4`, code: 1009, message: notAllowed('run', B), overwrite: true }]);
  assert.deepEqual(
    r.handlers.map((h) => [h.name, h.disallowed === true]),
    [
      [A, false],
      [B, true],
    ],
  );
  assert.equal(r.outcome?.status, 'Success', 'a disallowed extension does not fail the goal state');
  assert.deepEqual(saved, [p.fileContents], 'the policy in force goes to the history');
});

test('an invalid policy blocks every extension with the error; uninstall gets 1010 and no status file', async () => {
  const w = new World();
  const error = invalidPolicy(FILE, "unrecognized attribute 'x' in policy");
  const saved: string[] = [];
  const gs = goalState([handler(A, '1.0'), handler(B, '2.0', { state: 'uninstall' })]);
  await processor(
    w,
    () => {
      throw error;
    },
    saved,
  ).process(gs);
  assert.deepEqual(w.take(), []);
  const message = `Extension will not be processed due to an error verifying extension policy: ${error.message}`;
  assert.match(
    message,
    /^Extension will not be processed due to an error verifying extension policy: \[InvalidPolicyError\] Customer-provided policy file \('\/etc\/waagent_policy.json'\) is invalid/,
  );
  assert.deepEqual(w.dir(A, '1.0')?.status, { status: 'NotReady', code: 1009, message });
  assert.deepEqual(w.dir(B, '2.0')?.status, { status: 'NotReady', code: 1010, message });
  assert.deepEqual(
    w.placeholders.map((x) => x.key),
    [`${A}-1.0/null.0`],
  );
  assert.deepEqual(saved, [], 'an invalid policy is not recorded');
});

test('an installed extension that becomes disallowed stays installed and is not run; its installed version reports the block', async () => {
  const w = new World();
  await w.processor().process(goalState([handler(A, '1.0')]));
  w.take();
  w.dir(A, '1.0')!.status = { status: 'Ready', code: 0, message: 'Plugin enabled' };
  const r = await processor(w, policy({ allowListedExtensionsOnly: true })).process(
    goalState([handler(A, '1.0', { settings: [settings(A, 1)] })]),
  );
  assert.deepEqual(w.take(), [], 'neither enable nor disable nor uninstall');
  assert.equal(w.dir(A, '1.0')?.state, 'Enabled');
  assert.deepEqual(w.dir(A, '1.0')?.status, { status: 'NotReady', code: 1009, message: notAllowed('run', A) });
  assert.equal(r.handlers[0]?.disallowed, true);
  // Requested for uninstall while disallowed: the uninstall is blocked too (1010), the handler stays.
  await processor(w, policy({ allowListedExtensionsOnly: true })).process(goalState([handler(A, '1.0', { state: 'uninstall' })]));
  assert.deepEqual(w.take(), []);
  assert.deepEqual(w.dir(A, '1.0')?.status, { status: 'NotReady', code: 1010, message: notAllowed('uninstall', A) });
});

test('a disallowed extension never installed is removed on uninstall (no code of it runs); the legacy disable is not checked', async () => {
  const w = new World();
  const p = policy({ allowListedExtensionsOnly: true });
  const r = await processor(w, p).process(goalState([handler(A, '1.0', { state: 'uninstall' })]));
  assert.deepEqual(w.take(), []);
  assert.equal(w.dir(A, '1.0')?.status ?? null, null, 'no error status: nothing was refused');
  assert.equal(r.handlers[0]?.disallowed, undefined);
  // Installed and enabled without a policy, then requested disabled (handler level) under the allow list: upstream's
  // handle_disable checks no policy, so disable runs.
  await w.processor().process(goalState([handler(B, '1.0')]));
  w.take();
  const d = await processor(w, p).process(goalState([handler(B, '1.0', { state: 'disabled' })]));
  assert.deepEqual(w.take(), [`disable ${B} 1.0`]);
  assert.equal(d.handlers[0]?.disallowed, undefined);
});

test('signature required at uninstall: an installed package never validated is not uninstalled (1010); a validated one is', async () => {
  const w = new World();
  await w.processor().process(goalState([handler(A, '1.0', { encodedSignature: 'c2ln' }), handler(B, '1.0')]));
  w.take();
  const p = policy({ signatureRequired: true });
  const r = await processor(w, p).process(
    goalState([handler(A, '1.0', { state: 'uninstall' }), handler(B, '1.0', { state: 'uninstall' })]),
  );
  assert.deepEqual(w.take(), [`disable ${A} 1.0`, `uninstall ${A} 1.0`]);
  assert.equal(w.dir(A, '1.0'), undefined, 'A is removed');
  assert.equal(w.dir(B, '1.0')?.state, 'Enabled', 'B stays installed');
  assert.deepEqual(w.dir(B, '1.0')?.status, { status: 'NotReady', code: 1010, message: mustBeSigned(B, 'uninstall') });
  assert.deepEqual(w.placeholders, [], 'an uninstall error is reported at the handler level only');
  assert.equal(r.handlers.find((h) => h.name === B)?.disallowed, true);
});

test('extensions that depend on a disallowed one are skipped as after a failure', async () => {
  const w = new World();
  const gs = goalState([
    handler(A, '1.0', { settings: [settings(A, 0, { dependencyLevel: 1 })] }),
    handler(B, '1.0', { settings: [settings(B, 0, { dependencyLevel: 2 })] }),
  ]);
  await processor(w, policy({ allowListedExtensionsOnly: true, extensions: { [B]: {} } })).process(gs);
  assert.deepEqual(w.take(), []);
  assert.equal(w.dir(B, '1.0')?.status?.message, `Skipping processing of extensions since execution of dependent extension ${A} failed`);
});

test('with no policy in force (the default) nothing changes and nothing is recorded', async () => {
  const w = new World();
  const r = await w.processor().process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.equal(r.handlers[0]?.disallowed, undefined);
  assert.deepEqual(w.signatureRequiredInstalls, []);
});

test('the policy is read once per goal state with handlers, not for an empty one', async () => {
  const w = new World();
  let reads = 0;
  const p = processor(w, () => {
    reads += 1;
    return policy({});
  });
  await p.process(goalState([]));
  assert.equal(reads, 0);
  await p.process(goalState([handler(A, '1.0'), handler(B, '1.0')]));
  assert.equal(reads, 1);
});

test('signature required: an unsigned extension is not installed (upstream ExtensionSignaturePolicyError message, 1009)', async () => {
  const w = new World();
  await processor(w, policy({ signatureRequired: true })).process(goalState([handler(A, '1.0')]));
  assert.deepEqual(w.take(), []);
  assert.deepEqual(w.dir(A, '1.0')?.status, { status: 'NotReady', code: 1009, message: mustBeSigned(A) });
  assert.deepEqual(
    w.placeholders.map((x) => [x.key, x.code, x.overwrite]),
    [[`${A}-1.0/null.0`, 1009, true]],
  );
});

test('signature required: a signed package is installed with validation enforced; a bad signature blocks it with 1007', async () => {
  const w = new World();
  w.badSignatures.add(B);
  const p = policy({ extensions: { [A]: { signatureRequired: true }, [B]: { signatureRequired: true } } });
  const r = await processor(w, p).process(
    goalState([handler(A, '1.0', { encodedSignature: 'c2ln' }), handler(B, '1.0', { encodedSignature: 'c2ln' })]),
  );
  assert.deepEqual(w.signatureRequiredInstalls, [`${A} 1.0`, `${B} 1.0`]);
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
  assert.deepEqual(w.dir(B, '1.0')?.status, {
    status: 'NotReady',
    code: 1007,
    message: `Signature validation failed for package '${B}-1.0'. Error: bad signature`,
  });
  assert.deepEqual(
    w.placeholders.map((x) => [x.key, x.code]),
    [[`${B}-1.0/null.0`, 1007]],
  );
  assert.deepEqual(
    r.handlers.map((h) => [h.name, h.disallowed === true]),
    [
      [A, false],
      [B, true],
    ],
  );
});

test('signature required later: an installed extension runs only when its signature was validated on install', async () => {
  const w = new World();
  // Installed without a policy: A signed (validated), B unsigned.
  await w.processor().process(goalState([handler(A, '1.0', { encodedSignature: 'c2ln' }), handler(B, '1.0')]));
  w.take();
  const p = policy({ signatureRequired: true });
  // The goal state of an installed extension may well carry no signature: what counts is package_validated.
  await processor(w, p).process(goalState([handler(A, '1.0'), handler(B, '1.0')]));
  assert.deepEqual(w.take(), [`enable ${A} 1.0`]);
  assert.equal(w.dir(B, '1.0')?.state, 'Enabled', 'B stays installed');
  assert.deepEqual(w.dir(B, '1.0')?.status, { status: 'NotReady', code: 1009, message: mustBeSigned(B) });
});

test('a per-extension signatureRequired false exempts it from a global requirement', async () => {
  const w = new World();
  await processor(w, policy({ signatureRequired: true, extensions: { [A]: { signatureRequired: false } } })).process(
    goalState([handler(A, '1.0')]),
  );
  assert.deepEqual(w.take(), [`install ${A} 1.0`, `enable ${A} 1.0`]);
});

test('status of a disallowed handler: the agent’s NotReady and code stand, a previous heartbeat is only told; never installed, its status file is still reported', async () => {
  const d = mkdtempSync(join(tmpdir(), 'policy-report-'));
  try {
    const roots = { libDir: join(d, 'lib'), logDir: join(d, 'log') };
    const message = notAllowed('run', A);
    // A: installed earlier, reports a heartbeat; now disallowed.
    const a = handlerLayout(roots, A, '1.0');
    mkdirSync(a.baseDir, { recursive: true });
    writeFileSync(a.manifestFile, JSON.stringify([{ handlerManifest: { ...COMMANDS, reportHeartbeat: true } }]));
    writeFileSync(
      a.heartbeatFile,
      JSON.stringify([{ version: 1.0, heartbeat: { status: 'ready', code: 0, formattedMessage: { lang: 'en-US', message: 'all good' } } }]),
    );
    writeHandlerState(a, 'Enabled');
    writeHandlerStatus(a, { name: A, version: '1.0', status: 'NotReady', code: 1009, message, supportsMultiConfig: false });
    // B: never installed; the agent wrote its HandlerStatus and an error status file.
    const ports = createLifecyclePorts({ roots, download: {} as never, wireServerAddress: '127.0.0.1', useSystemd: false });
    ports.state.setHandlerStatus(B, '1.0', { status: 'NotReady', code: 1009, message: notAllowed('run', B) }, false);
    ports.statuses.writePlaceholder(
      B,
      '1.0',
      null,
      5,
      { operation: 'ExtensionPolicy', status: 'error', code: 1009, message: notAllowed('run', B) },
      true,
    );
    const reported = (name: string, seqNo: number, disallowed: boolean) => ({
      name,
      version: '1.0',
      state: 'enabled',
      isMultiConfig: false,
      useExactVersion: true,
      extensions: [{ name, seqNo, state: 'enabled' }],
      ...(disallowed ? { disallowed: true } : {}),
    });
    const [sa, sb] = await collectHandlerStatuses([reported(A, 0, true), reported(B, 5, true)], {
      roots,
      extensionsEnabled: true,
      readAttempts: 1,
    });
    assert.deepEqual([sa?.status, sa?.code], ['NotReady', 1009]);
    assert.equal(sa?.message, `${message} Extension was previously enabled and reported the following heartbeat:\nall good`);
    assert.deepEqual([sb?.status, sb?.code, sb?.extensions.length], ['NotReady', 1009, 1]);
    assert.deepEqual([sb?.extensions[0]?.status, sb?.extensions[0]?.code], ['error', 1009]);
    // The same handler not disallowed: the heartbeat decides, and a never-installed handler's status file is not read.
    const [na, nb] = await collectHandlerStatuses([reported(A, 0, false), reported(B, 5, false)], {
      roots,
      extensionsEnabled: true,
      readAttempts: 1,
    });
    assert.deepEqual([na?.status, na?.message], ['ready', 'all good']);
    assert.deepEqual(nb?.extensions, []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

const COMMANDS = { installCommand: 'i', uninstallCommand: 'u', updateCommand: 'p', enableCommand: 'e', disableCommand: 'd' };
