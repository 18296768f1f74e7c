// The extension policy (Debug.EnableExtensionPolicy, /etc/waagent_policy.json) and package signatures
// (encodedSignature) end to end with the BUILT binary: `waagent -run-exthandlers -once` in the namespace sandbox
// against the fabric emulator. Checked from outside: the commands the handlers ran, the files on disk, the goal-state
// history and the status blob the emulator received (status, code and message of each handler, upstream's).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ExtensionsHarness,
  extensionsConfig,
  handlerEntries,
  handlerZip,
  LIB,
  pluginManifest,
  type Json,
  type PluginSpec,
} from '../helpers/extensions.ts';
import { FIXTURES } from '../helpers/paths.ts';

const STATUS_BLOB = 'https://acct.blob.core.windows.net/vhds/vm.status?sv=2020-01-01&sig=SECRETSIG';
const POLICY = '/etc/waagent_policy.json';
const WIRE = join(FIXTURES, 'tests', 'data', 'wire');
const SIGNING = join(FIXTURES, 'tests', 'data', 'signing');
const VMACCESS = 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux';
const VMACCESS_MANIFEST =
  'http://mock-goal-state/rdfepirv2hknprdstr03.blob.core.windows.net/b01058962be54ceca550a390fa5ff064/Microsoft.OSTCExtensions.VMAccessForLinux_manifest.xml';
const VMACCESS_ZIP = 'http://mock-goal-state/pkgs/VMAccessForLinux__1.7.0';

const entry = (doc: Json, name: string): Json => {
  const e = handlerEntries(doc).find((h: Json) => h.handlerName === name);
  assert.ok(e, `${name} is in the status blob: ${JSON.stringify(handlerEntries(doc).map((h: Json) => h.handlerName))}`);
  return e;
};
const settingsStatus = (e: Json): Json => e.runtimeSettingsStatus?.settingsStatus?.status;
const notAllowed = (name: string) =>
  `Extension will not be processed: failed to run extension '${name}' because it is not specified as an allowed extension. ` +
  `To run, add the extension to the list of allowed extensions in the policy file ('${POLICY}').`;

async function harness(config: Record<string, string>): Promise<ExtensionsHarness> {
  const x = await ExtensionsHarness.start(config);
  const names = ['Test.Allowed', 'Test.Other'];
  const artifacts: Record<string, Buffer | string> = {
    [VMACCESS_MANIFEST]: pluginManifest([{ version: '1.7.0', uris: [VMACCESS_ZIP] }]),
    [VMACCESS_ZIP]: readFileSync(join(SIGNING, `${VMACCESS}__1.7.0.zip`)),
  };
  for (const n of names) {
    artifacts[x.blob(`/manifests/${n}.xml`)] = pluginManifest([{ version: '1.0.0', uris: [x.blob(`/pkgs/${n}__1.0.0`)] }]);
    artifacts[x.blob(`/pkgs/${n}__1.0.0`)] = handlerZip({ name: n, version: '1.0.0' });
  }
  await x.register(artifacts);
  return x;
}

function plugin(x: ExtensionsHarness, name: string, seqNo: number, extra: Partial<PluginSpec> = {}): PluginSpec {
  return { name, version: '1.0.0', state: 'enabled', manifestUrl: x.blob(`/manifests/${name}.xml`), seqNo, ...extra };
}

describe('the extension policy: invalid, allow list, an installed extension becoming disallowed', () => {
  let x: ExtensionsHarness;
  let inc = 0;
  const serve = (plugins: PluginSpec[]) =>
    x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins, statusBlob: STATUS_BLOB }) }, inc);

  before(async () => {
    x = await harness({ 'Debug.EnableExtensionPolicy': 'y' });
  });
  after(() => x?.close());

  test('a policy file that is not JSON blocks every extension with a status naming the error (1009)', async () => {
    x.sb.writeFile(POLICY, '{ "policyVersion": "0.1.0", ');
    await serve([plugin(x, 'Test.Allowed', 0)]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [], 'nothing ran');
    const e = entry(r.status, 'Test.Allowed');
    const prefix =
      `Extension will not be processed due to an error verifying extension policy: [InvalidPolicyError] Customer-provided policy file ('${POLICY}') is invalid, please correct the following error: ` +
      'policy file does not conform to valid json syntax. File contents: { "policyVersion": "0.1.0", ';
    assert.deepEqual([e.status, e.code], ['NotReady', 1009]);
    assert.ok(e.formattedMessage.message.startsWith(prefix), e.formattedMessage.message);
    const s = settingsStatus(e);
    assert.deepEqual([s.status, s.code], ['error', 1009], 'CRP gets an error status for the settings, not a wait');
    assert.ok(s.formattedMessage.message.startsWith(prefix));
    assert.equal(x.exists(`${LIB}/Test.Allowed-1.0.0/HandlerManifest.json`), false);
  });

  test('an unsupported policy version is named too', async () => {
    x.sb.writeFile(POLICY, JSON.stringify({ policyVersion: '1.0.0' }));
    await serve([plugin(x, 'Test.Allowed', 0)]);
    const r = await x.once();
    assert.deepEqual(r.ops, []);
    assert.match(
      entry(r.status, 'Test.Allowed').formattedMessage.message,
      /policy version '1\.0\.0' is not supported\. The agent supports policy versions up to '0\.1\.0'\.$/,
    );
  });

  test('allow list: the listed extension runs, the other is reported disallowed; the policy is in the goal-state history', async () => {
    const text = JSON.stringify(
      { policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, extensions: { 'test.allowed': {} } } },
      null,
      2,
    );
    x.sb.writeFile(POLICY, text);
    await serve([plugin(x, 'Test.Allowed', 1), plugin(x, 'Test.Other', 1)]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      'install Test.Allowed 1.0.0 seq=1 uninstall=NOT_RUN from=',
      'enable Test.Allowed 1.0.0 seq=1 uninstall=NOT_RUN from=',
    ]);
    assert.equal(entry(r.status, 'Test.Allowed').status, 'Ready');
    const other = entry(r.status, 'Test.Other');
    assert.deepEqual([other.status, other.code, other.formattedMessage.message], ['NotReady', 1009, notAllowed('Test.Other')]);
    assert.deepEqual([settingsStatus(other).status, settingsStatus(other).code], ['error', 1009]);
    const saved = await x.sh(`ls ${LIB}/history/*/waagent_policy.json | tail -1`);
    assert.equal(x.read(saved), text);
  });

  test('an installed extension that becomes disallowed is neither run nor removed; its status says why', async () => {
    x.sb.writeFile(
      POLICY,
      JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, extensions: { 'Test.Other': {} } } }),
    );
    await serve([plugin(x, 'Test.Allowed', 2), plugin(x, 'Test.Other', 2)]);
    const r = await x.once();
    assert.deepEqual(r.ops, [
      'install Test.Other 1.0.0 seq=2 uninstall=NOT_RUN from=',
      'enable Test.Other 1.0.0 seq=2 uninstall=NOT_RUN from=',
    ]);
    const e = entry(r.status, 'Test.Allowed');
    assert.deepEqual([e.status, e.code, e.formattedMessage.message], ['NotReady', 1009, notAllowed('Test.Allowed')]);
    assert.equal(x.read(`${LIB}/Test.Allowed-1.0.0/config/HandlerState`), 'Enabled', 'still installed');
    assert.equal(settingsStatus(e).code, 1009);
  });

  test('Debug.EnableExtensionPolicy=n: the same policy file is ignored', async () => {
    x.configure({ 'Debug.EnableExtensionPolicy': 'n' });
    await serve([plugin(x, 'Test.Allowed', 3), plugin(x, 'Test.Other', 3)]);
    const r = await x.once();
    assert.deepEqual(r.ops, [
      'enable Test.Allowed 1.0.0 seq=3 uninstall=NOT_RUN from=',
      'enable Test.Other 1.0.0 seq=3 uninstall=NOT_RUN from=',
    ]);
    assert.equal(entry(r.status, 'Test.Allowed').status, 'Ready');
  });
});

describe('signatures required by the policy: the recorded VMAccess package and signatures, and an unsigned handler', () => {
  let x: ExtensionsHarness;
  let inc = 0;

  before(async () => {
    x = await harness({ 'Debug.EnableExtensionPolicy': 'y' });
    x.sb.writeFile(POLICY, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { signatureRequired: true } }));
  });
  after(() => x?.close());

  test('ext_conf-vm_access_with_invalid_signature.xml: the package is refused with 1007, nothing is unpacked or kept', async () => {
    await x.serve({ extensionsConfig: join(WIRE, 'ext_conf-vm_access_with_invalid_signature.xml') }, ++inc);
    const r = await x.once(60_000);
    assert.equal(r.code, 0, r.stderr);
    const e = entry(r.status, VMACCESS);
    assert.deepEqual([e.status, e.code], ['NotReady', 1007]);
    // The fixture's signature is not even well-formed DER (upstream's openssl fails on it the same way).
    assert.match(
      e.formattedMessage.message,
      new RegExp(`^Signature validation failed for package '${VMACCESS}-1\\.7\\.0'\\. Error: malformed ASN\\.1 data`),
    );
    assert.deepEqual([settingsStatus(e).status, settingsStatus(e).code], ['error', 1007]);
    assert.equal(x.exists(`${LIB}/${VMACCESS}-1.7.0/HandlerManifest.json`), false, 'not unpacked');
    assert.equal(x.exists(`${LIB}/${VMACCESS}__1.7.0.zip`), false, 'the zip is not kept');
  });

  test('ext_conf-vm_access_with_signature.xml: validated in-process against the Microsoft root, package_validated written, installed', async () => {
    await x.serve({ extensionsConfig: join(WIRE, 'ext_conf-vm_access_with_signature.xml') }, ++inc);
    const r = await x.once(60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(x.read(`${LIB}/${VMACCESS}-1.7.0/package_validated`), '', 'the validation state file');
    assert.equal(x.read(`${LIB}/${VMACCESS}-1.7.0/config/HandlerState`) !== null, true);
    const e = entry(r.status, VMACCESS);
    assert.doesNotMatch(e.formattedMessage?.message ?? '', /Signature validation failed|must be signed/);
    const log = x.read('/var/log/waagent.log') ?? '';
    assert.match(log, new RegExp(`Successfully validated signature for package '${VMACCESS}-1\\.7\\.0'`));
    assert.match(log, new RegExp(`Successfully validated handler manifest 'signingInfo' for extension '${VMACCESS}-1\\.7\\.0'`));
  });

  test('an unsigned handler is not installed: upstream ExtensionSignaturePolicyError message, 1009', async () => {
    await x.serve(
      { extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins: [plugin(x, 'Test.Allowed', 0)], statusBlob: STATUS_BLOB }) },
      inc,
    );
    const r = await x.once();
    assert.deepEqual(r.ops, []);
    const e = entry(r.status, 'Test.Allowed');
    assert.deepEqual([e.status, e.code], ['NotReady', 1009]);
    assert.equal(
      e.formattedMessage.message,
      "Extension will not be processed: failed to run extension 'Test.Allowed' because policy specifies that extension must be signed, " +
        `but extension package signature could not be found. To run, set 'signatureRequired' to false in the policy file ('${POLICY}').`,
    );
  });
});

describe('Debug.EnableSignatureValidation without a policy: validation reported, never blocking (upstream 2.15)', () => {
  let x: ExtensionsHarness;
  before(async () => {
    x = await harness({ 'Debug.EnableSignatureValidation': 'y' });
  });
  after(() => x?.close());

  test('an invalid signature is logged as ignorable; the package is installed without package_validated', async () => {
    await x.serve({ extensionsConfig: join(WIRE, 'ext_conf-vm_access_with_invalid_signature.xml') }, 1);
    const r = await x.once(60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(x.exists(`${LIB}/${VMACCESS}-1.7.0/HandlerManifest.json`), true, 'unpacked');
    assert.equal(x.exists(`${LIB}/${VMACCESS}-1.7.0/package_validated`), false);
    const log = x.read('/var/log/waagent.log') ?? '';
    assert.match(
      log,
      new RegExp(
        `Signature validation failed for package '${VMACCESS}-1\\.7\\.0'\\. Error: .*\\nThis failure can be safely ignored; will continue processing the package\\.`,
      ),
    );
    assert.doesNotMatch(entry(r.status, VMACCESS).formattedMessage?.message ?? '', /Signature validation failed/);
  });
});

describe('the policy at each operation (upstream develop): enable and the uninstall of an installed handler are checked', () => {
  let x: ExtensionsHarness;
  let inc = 0;
  const serve = (plugins: PluginSpec[]) =>
    x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins, statusBlob: STATUS_BLOB }) }, inc);
  const setPolicy = (extensionPolicies: object) => x.sb.writeFile(POLICY, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies }));

  before(async () => {
    x = await harness({ 'Debug.EnableExtensionPolicy': 'y' });
  });
  after(() => x?.close());

  test('an unsigned handler installed before the policy: its uninstall is refused (1010), a never-installed one is just removed', async () => {
    await serve([plugin(x, 'Test.Allowed', 0)]);
    assert.equal((await x.once()).code, 0, 'installed without a policy file');
    setPolicy({ signatureRequired: true });
    await serve([plugin(x, 'Test.Allowed', 0, { state: 'uninstall' }), plugin(x, 'Test.Other', 0, { state: 'uninstall' })]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [], 'neither disable nor uninstall ran');
    const e = entry(r.status, 'Test.Allowed');
    assert.deepEqual(
      [e.status, e.code, e.formattedMessage.message],
      [
        'NotReady',
        1010,
        "Extension will not be processed: failed to uninstall extension 'Test.Allowed' because policy specifies that extension must be signed, " +
          `but extension package signature could not be found. To uninstall, set 'signatureRequired' to false in the policy file ('${POLICY}').`,
      ],
    );
    assert.deepEqual(
      [settingsStatus(e).status, settingsStatus(e).code],
      ['success', 0],
      'an uninstall is refused at the handler level only: the extension status file it wrote stands',
    );
    assert.equal(x.read(`${LIB}/Test.Allowed-1.0.0/config/HandlerState`), 'Enabled', 'still installed');
    assert.equal(
      handlerEntries(r.status).some((h: Json) => h.handlerName === 'Test.Other'),
      false,
      'a handler never installed is not refused: nothing of it runs, it is simply absent',
    );
  });

  test('not on the allow list: the legacy disable is not checked and runs; the uninstall is refused with the allow-list message', async () => {
    setPolicy({ allowListedExtensionsOnly: true, extensions: {} });
    await serve([plugin(x, 'Test.Allowed', 0, { state: 'disabled' })]);
    const d = await x.once();
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(
      d.ops.map((o) => o.split(' seq=')[0]),
      ['disable Test.Allowed 1.0.0'],
    );
    assert.equal(x.read(`${LIB}/Test.Allowed-1.0.0/config/HandlerState`), 'Installed');
    await serve([plugin(x, 'Test.Allowed', 0, { state: 'uninstall' })]);
    const u = await x.once();
    assert.deepEqual(u.ops, []);
    const e = entry(u.status, 'Test.Allowed');
    assert.deepEqual(
      [e.status, e.code, e.formattedMessage.message],
      [
        'NotReady',
        1010,
        "Extension will not be processed: failed to uninstall extension 'Test.Allowed' because it is not specified as an allowed extension. " +
          `To uninstall, add the extension to the list of allowed extensions in the policy file ('${POLICY}').`,
      ],
    );
  });

  test('allowed and no signature required for it: the uninstall runs and the handler leaves the status blob', async () => {
    setPolicy({ signatureRequired: true, allowListedExtensionsOnly: true, extensions: { 'Test.Allowed': { signatureRequired: false } } });
    await serve([plugin(x, 'Test.Allowed', 0, { state: 'uninstall' })]);
    const r = await x.once();
    assert.deepEqual(
      r.ops.map((o) => o.split(' seq=')[0]),
      ['uninstall Test.Allowed 1.0.0'],
    );
    assert.equal(x.exists(`${LIB}/Test.Allowed-1.0.0`), false);
    assert.deepEqual(handlerEntries(r.status), []);
  });
});

/** The encodedSignature of the recorded, validly signed VMAccess goal state. */
function vmAccessSignature(): string {
  const xml = readFileSync(join(WIRE, 'ext_conf-vm_access_with_signature.xml'), 'utf8');
  const m = /encodedSignature="([^"]+)"/.exec(xml);
  assert.ok(m, 'the fixture carries an encodedSignature');
  return m[1]!;
}

/** A HostGAPlugin vmSettings document (§3.4); the tick count is spliced in as a bare JSON number. */
function vmSettings(ticks: bigint, extensionGoalStates: Json[]): string {
  return JSON.stringify({
    hostGAPluginVersion: '1.0.8.159',
    vmSettingsSchemaVersion: '0.0',
    activityId: '2e7f8b5d-f637-4721-b757-cb190d49b4e9',
    correlationId: '1bef4c48-044e-4225-8f42-1d1eac1eb158',
    inSvdSeqNo: 1,
    extensionsLastModifiedTickCount: '__TICKS__',
    extensionGoalStatesSource: 'FastTrack',
    onHold: false,
    statusUploadBlob: { statusBlobType: 'BlockBlob', value: STATUS_BLOB },
    requiredFeatures: [],
    extensionGoalStates,
  }).replace('"__TICKS__"', ticks.toString());
}

describe('a Fast Track goal state (HostGAPlugin vmSettings) under a policy requiring signatures', () => {
  let x: ExtensionsHarness;

  before(async () => {
    x = await harness({ 'Debug.EnableExtensionPolicy': 'y', 'Debug.EnableFastTrack': 'y' });
    x.sb.writeFile(POLICY, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { signatureRequired: true } }));
  });
  after(() => x?.close());

  test('the signed extension is validated and installed, the unsigned one is refused (1009) with an error status for its settings', async () => {
    const ticks = 637726657706205217n + 1_000_000n; // newer than the ExtensionsConfig served beside it
    await x.serve(
      {
        extensionsConfig: extensionsConfig({ incarnation: 1, plugins: [], statusBlob: STATUS_BLOB }),
        vmSettings: vmSettings(ticks, [
          {
            name: VMACCESS,
            version: '1.7.0',
            location: VMACCESS_MANIFEST,
            state: 'enabled',
            autoUpgrade: false,
            runAsStartupTask: false,
            isJson: true,
            useExactVersion: true,
            encodedSignature: vmAccessSignature(),
            settingsSeqNo: 0,
            settings: [{ publicSettings: '{}' }],
          },
          {
            name: 'Test.Allowed',
            version: '1.0.0',
            location: x.blob('/manifests/Test.Allowed.xml'),
            state: 'enabled',
            autoUpgrade: false,
            runAsStartupTask: false,
            isJson: true,
            useExactVersion: true,
            settingsSeqNo: 3,
            settings: [{ publicSettings: '{"a":1}' }],
          },
        ]),
      },
      1,
    );
    const r = await x.once(60_000);
    assert.equal(r.code, 0, r.stderr);
    const log = x.read('/var/log/waagent.log') ?? '';
    assert.match(log, /FastTrack/, 'the Fast Track goal state was the one processed');
    assert.equal(x.read(`${LIB}/${VMACCESS}-1.7.0/package_validated`), '', 'signature and signingInfo validated');
    assert.match(log, new RegExp(`Successfully validated signature for package '${VMACCESS}-1\\.7\\.0'`));
    assert.deepEqual(r.ops, [], 'nothing of the unsigned handler ran');
    assert.equal(x.exists(`${LIB}/Test.Allowed-1.0.0`), true, 'its status lives in its directory');
    assert.equal(x.exists(`${LIB}/Test.Allowed-1.0.0/HandlerManifest.json`), false, 'but its package was never downloaded');
    const e = entry(r.status, 'Test.Allowed');
    const message =
      "Extension will not be processed: failed to run extension 'Test.Allowed' because policy specifies that extension must be signed, " +
      `but extension package signature could not be found. To run, set 'signatureRequired' to false in the policy file ('${POLICY}').`;
    assert.deepEqual([e.status, e.code, e.formattedMessage.message], ['NotReady', 1009, message]);
    const s = settingsStatus(e);
    assert.deepEqual([s.status, s.code, s.formattedMessage.message, e.runtimeSettingsStatus.sequenceNumber], ['error', 1009, message, 3]);
    assert.doesNotMatch(entry(r.status, VMACCESS).formattedMessage?.message ?? '', /must be signed|Signature validation failed/);
    const gs = r.status.aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus;
    assert.deepEqual([gs.status, gs.inSvdSeqNo], ['Success', '1'], "the Fast Track goal state's sequence number is reported");
  });
});

describe('a multi-config extension the policy disallows', () => {
  let x: ExtensionsHarness;

  before(async () => {
    x = await harness({ 'Debug.EnableExtensionPolicy': 'y' });
    x.sb.writeFile(
      POLICY,
      JSON.stringify({
        policyVersion: '0.1.0',
        extensionPolicies: { allowListedExtensionsOnly: true, extensions: { 'Test.Allowed': {} } },
      }),
    );
  });
  after(() => x?.close());

  test('each of its extensions gets an error status file; the status blob has an entry per reported extension with upstream code and message', async () => {
    await x.serve(
      {
        extensionsConfig: extensionsConfig({
          incarnation: 1,
          statusBlob: STATUS_BLOB,
          requiredFeatures: ['MultipleExtensionsPerHandler'],
          plugins: [
            plugin(x, 'Test.Allowed', 1),
            plugin(x, 'Test.Other', 0, {
              seqNo: undefined,
              extensions: [
                { name: 'first', seqNo: 4 },
                { name: 'second', seqNo: 7, state: 'disabled' },
              ],
            }),
          ],
        }),
      },
      1,
    );
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      'install Test.Allowed 1.0.0 seq=1 uninstall=NOT_RUN from=',
      'enable Test.Allowed 1.0.0 seq=1 uninstall=NOT_RUN from=',
    ]);
    const message = notAllowed('Test.Other');
    const entries = handlerEntries(r.status).filter((h: Json) => h.handlerName === 'Test.Other');
    assert.deepEqual(
      entries.map((h: Json) => [
        h.status,
        h.code,
        h.formattedMessage.message,
        h.runtimeSettingsStatus.extensionName,
        h.runtimeSettingsStatus.sequenceNumber,
        settingsStatus(h).status,
        settingsStatus(h).code,
        settingsStatus(h).formattedMessage.message,
      ]),
      // 'second' is requested disabled and is disabled on disk (never installed): upstream's
      // get_extension_handler_statuses skips such an extension, and so do we; its status file is written all the same.
      [['NotReady', 1009, message, 'first', 4, 'error', 1009, message]],
    );
    for (const f of ['first.4.status', 'second.7.status']) {
      const doc = JSON.parse(x.read(`${LIB}/Test.Other-1.0.0/status/${f}`) ?? 'null');
      assert.deepEqual(
        [doc[0].status.status, doc[0].status.code, doc[0].status.formattedMessage.message, doc[0].status.operation],
        ['error', 1009, message, 'ExtensionPolicy'],
        f,
      );
    }
    const gs = r.status.aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus;
    assert.equal(gs.status, 'Success', 'a disallowed extension does not fail the goal state');
  });
});
