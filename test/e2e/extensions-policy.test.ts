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
      `Extension will not be processed: [InvalidPolicyError] Customer-provided policy file ('${POLICY}') is invalid, please correct the following error: ` +
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
