// The package store's install with signatures (lifecycle/adapters.ts): real zips on disk, signed with a test PKI
// whose root is handed in as the trusted root; the manifest comes from a fake HTTP client and the zip is the
// leftover one the store reuses (§5.3), so nothing is downloaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { createZip } from '../../../src/archive/zip-write.ts';
import { createLifecyclePorts } from '../../../src/extensions/lifecycle/adapters.ts';
import { handlerLayout } from '../../../src/extensions/package/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { makeTestPki, signFile, type TestPki } from '../../helpers/signing.ts';
import { handler } from './ext-lifecycle-fakes.ts';

const NAME = 'Test.Publisher.Signed';
const dir = mkdtempSync(join(tmpdir(), 'sig-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pki = makeTestPki(dir, 'Trusted');
const stranger = makeTestPki(dir, 'Stranger');

const COMMANDS = { installCommand: 'i.sh', uninstallCommand: 'u.sh', updateCommand: 'p.sh', enableCommand: 'e.sh', disableCommand: 'd.sh' };
const MANIFEST_XML =
  '<?xml version="1.0" encoding="utf-8"?><PluginVersionManifest><Plugins><Plugin><Version>1.0.0</Version><Uris><Uri>http://pkg/1.0.0</Uri></Uris></Plugin></Plugins></PluginVersionManifest>';

let n = 0;
/** A fresh lib dir holding the package zip (its signingInfo as given), and ports trusting `roots`. */
function setup(signingInfo: Record<string, string> | null, opts: { signatureValidation?: boolean; signer?: TestPki } = {}) {
  const libDir = join(dir, `lib${++n}`);
  mkdirSync(libDir);
  const zip = join(libDir, `${NAME}__1.0.0.zip`);
  const manifest = [{ version: 1.0, handlerManifest: COMMANDS, ...(signingInfo ? { signingInfo } : {}) }];
  writeFileSync(zip, createZip([{ name: 'HandlerManifest.json', data: JSON.stringify(manifest) }], { raw: true }));
  const encodedSignature = signFile(opts.signer ?? pki, zip);
  const ports = createLifecyclePorts({
    roots: { libDir, logDir: join(dir, `log${n}`) },
    download: { http: { request: async () => ({ body: Buffer.from(MANIFEST_XML) }) } as never, hostPlugin: {} as never },
    wireServerAddress: '127.0.0.1',
    useSystemd: false,
    signatureValidation: opts.signatureValidation ?? false,
    trustedRoots: [pki.rootPem],
  });
  const h = handler(NAME, '1.0.0', { encodedSignature });
  return { ports, h, zip, layout: handlerLayout({ libDir, logDir: join(dir, `log${n}`) }, NAME, '1.0.0') };
}

const GOOD_INFO = { type: 'signed', publisher: 'test.publisher', version: '1.0.0' };

test('required and valid: unpacked, package_validated written, and the store says so', async () => {
  const { ports, h, layout } = setup(GOOD_INFO);
  assert.equal(await ports.packages.chooseVersion(h, false), '1.0.0');
  await ports.packages.installPackage(h, '1.0.0', false, { signatureRequired: true });
  assert.equal(existsSync(layout.manifestFile), true);
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), true);
});

test('required, signed by a root not trusted: blocked (1007, disallowed), nothing unpacked, the zip deleted', async () => {
  const { ports, h, zip, layout } = setup(GOOD_INFO, { signer: stranger });
  await ports.packages.chooseVersion(h, false);
  await assert.rejects(ports.packages.installPackage(h, '1.0.0', false, { signatureRequired: true }), (e: unknown) => {
    assert.ok(isAgentError(e, 'extension', 'disallowed'), String(e));
    assert.equal(e.context.code, 1007);
    assert.match(e.message, new RegExp(`^Signature validation failed for package '${NAME}-1\\.0\\.0'\\. Error: the certificate chain`));
    return true;
  });
  assert.equal(existsSync(layout.baseDir), false);
  assert.equal(existsSync(zip), false);
});

test('required, signingInfo naming another version: blocked after unpacking, the handler directory removed', async () => {
  const { ports, h, layout } = setup({ ...GOOD_INFO, version: '0.9.0' });
  await ports.packages.chooseVersion(h, false);
  await assert.rejects(
    ports.packages.installPackage(h, '1.0.0', false, { signatureRequired: true }),
    (e: unknown) =>
      isAgentError(e, 'extension', 'disallowed') &&
      e.message === "expected extension version '1.0.0' does not match downloaded package version '0.9.0'",
  );
  assert.equal(existsSync(layout.baseDir), false);
});

test('Debug.EnableSignatureValidation only: a failed signature or signingInfo is logged, the package installed, not marked validated', async () => {
  for (const [info, signer] of [
    [GOOD_INFO, stranger],
    [null, pki],
  ] as const) {
    const { ports, h, layout } = setup(info, { signatureValidation: true, signer });
    await ports.packages.chooseVersion(h, false);
    await ports.packages.installPackage(h, '1.0.0', false, { signatureRequired: false });
    assert.equal(existsSync(layout.manifestFile), true);
    assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), false);
  }
  const { ports, h } = setup(GOOD_INFO, { signatureValidation: true });
  await ports.packages.chooseVersion(h, false);
  await ports.packages.installPackage(h, '1.0.0', false);
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), true, 'validated without any policy');
});

test('validation off and not required: a signed package is not checked (a good signature is not even marked)', async () => {
  const { ports, h } = setup(GOOD_INFO);
  await ports.packages.chooseVersion(h, false);
  await ports.packages.installPackage(h, '1.0.0', false);
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), false);
});

test("validated means package_validated (2.15) or upstream develop's signature_validated in HandlerStatus; we never write the latter", () => {
  const { ports, layout } = setup(GOOD_INFO);
  mkdirSync(join(layout.baseDir, 'config'), { recursive: true });
  const status = (extra: object) =>
    writeFileSync(
      layout.handlerStatusFile,
      JSON.stringify({ name: NAME, version: '1.0.0', status: 'Ready', code: 0, message: '', supports_multi_config: false, ...extra }),
    );
  status({ signature_validated: false });
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), false);
  status({ signature_validated: true });
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), true, 'installed by a develop agent');
  ports.state.setHandlerStatus(NAME, '1.0.0', { status: 'Ready', code: 0, message: 'Plugin enabled' }, false);
  assert.equal(JSON.parse(readFileSync(layout.handlerStatusFile, 'utf8')).signature_validated, undefined, "2.15's fields only");
  assert.equal(ports.packages.signatureValidated(NAME, '1.0.0'), false);
});
