// Extension manifests (docs/protocol.md §5.2) and version choice (decide_version, §10 item 22) on the recorded
// manifests, plus the malformed-manifest errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAgentError } from '../../../src/util/errors.ts';
import { parseExtensionManifest, type ExtensionManifest } from '../../../src/extensions/manifest.ts';
import { chooseVersion, compareVersionTuples, versionMatches } from '../../../src/extensions/version-choice.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const WIRE = join(FIXTURES, 'tests', 'data', 'wire');
const manifest = (name: string) => parseExtensionManifest(readFileSync(join(WIRE, name), 'utf8'), name);
const H = 'OSTCExtensions.ExampleHandlerLinux';

test('manifest.xml: public then internal packages, URIs, DisallowMajorVersionUpgrade', () => {
  const m = manifest('manifest.xml');
  assert.deepEqual(
    m.packages.map((p) => p.version),
    [
      '1.0.0',
      '1.1.0',
      '1.1.1',
      '1.2.0',
      '2.0.0',
      '2.1.0',
      '2.1.1',
      '2.2.0',
      '3.0',
      '3.1',
      '4.0.0.0',
      '4.0.0.1',
      '4.1.0.0',
      '1.3.0',
      '2.3.0',
      '2.4.0',
    ],
  );
  assert.deepEqual(
    m.packages.filter((p) => p.isInternal).map((p) => p.version),
    ['1.3.0', '2.3.0', '2.4.0'],
  );
  const first = m.packages[0]!;
  assert.deepEqual(first.uris, ['http://mock-goal-state/foo.bar/zar/OSTCExtensions.ExampleHandlerLinux__1.0.0']);
  assert.equal(first.disallowMajorVersionUpgrade, false);
  assert.equal(m.packages.find((p) => p.version === '2.1.0')!.disallowMajorVersionUpgrade, true);
  assert.deepEqual(m.packages.find((p) => p.version === '2.4.0')!.uris, [
    'http://mock-goal-state/host/OSTCExtensions.ExampleHandlerLinux__2.3.0',
  ]);
});

test('a package without Uris has an empty list; other recorded manifests parse', () => {
  const m = manifest('ga_manifest_no_uris.xml');
  assert.deepEqual(m.packages.at(-1), { version: '99999.0.0.0', uris: [], isInternal: false, disallowMajorVersionUpgrade: false });
  assert.deepEqual(
    manifest('manifest_vm_access.xml').packages.map((p) => p.version),
    ['1.7.0'],
  );
  assert.equal(manifest('ga_manifest.xml').packages.length, 8);
  assert.equal(manifest('manifest_deletion.xml').packages.length, 1);
});

test('namespace prefixes on the elements are accepted', () => {
  const xml =
    '<?xml version="1.0"?><m:PluginVersionManifest xmlns:m="urn:x"><m:Plugins><m:Plugin><m:Version>1.0</m:Version>' +
    '<m:Uris><m:Uri>\n https://a/b__1.0 \n</m:Uri></m:Uris></m:Plugin></m:Plugins></m:PluginVersionManifest>';
  assert.deepEqual(parseExtensionManifest(xml).packages, [
    { version: '1.0', uris: ['https://a/b__1.0'], isInternal: false, disallowMajorVersionUpgrade: false },
  ]);
});

test('malformed manifests give one clear sentence', () => {
  const bad = (xml: string, kind: 'xml' | 'protocol', re: RegExp) =>
    assert.throws(
      () => parseExtensionManifest(xml, 'manifest of Foo.Bar'),
      (e: unknown) => isAgentError(e, kind) && re.test(e.message) && !e.message.includes('\n'),
    );
  bad('<PluginVersionManifest><Plugins>', 'xml', /^the manifest of Foo\.Bar is not well-formed XML/);
  bad('', 'xml', /^the manifest of Foo\.Bar is not well-formed XML/);
  bad('<Extensions/>', 'protocol', /^the manifest of Foo\.Bar has the root element Extensions, expected PluginVersionManifest$/);
  bad(
    '<PluginVersionManifest><Plugins><Plugin><Uris/></Plugin></Plugins></PluginVersionManifest>',
    'protocol',
    /has no Version in its Plugins entry 1$/,
  );
  bad(
    '<PluginVersionManifest><Plugins><Plugin><Version>1.0</Version></Plugin></Plugins><InternalPlugins><Plugin><Version>x.1</Version></Plugin></InternalPlugins></PluginVersionManifest>',
    'protocol',
    /has the version "x\.1" in its InternalPlugins entry 1, which is not a dotted number$/,
  );
});

test('an empty manifest parses to no packages, and enable then fails in version choice', () => {
  const m = parseExtensionManifest('<PluginVersionManifest><Plugins/></PluginVersionManifest>');
  assert.deepEqual(m.packages, []);
  assert.throws(
    () => chooseVersion(m, { handlerName: H, requestedVersion: '1.0', installedVersion: null, state: 'enabled' }),
    /Unable to find version 1\.0/,
  );
});

test('versionMatches is prefix matching on components; ordering is FlexibleVersion tuple order', () => {
  assert.equal(versionMatches('1.0', '1.0'), true);
  assert.equal(versionMatches('1.0', '1.0.5'), true);
  assert.equal(versionMatches('1.0.0', '1.0'), false);
  assert.equal(versionMatches('1', '1.3.0'), true);
  assert.equal(versionMatches('1.1', '1.10'), false);
  assert.equal(versionMatches('01.1', '1.1.2'), true);
  assert.ok(compareVersionTuples('1.0', '1.0.0') < 0);
  assert.ok(compareVersionTuples('1.10', '1.9') > 0);
  assert.equal(compareVersionTuples('2.01', '2.1'), 0);
});

function pick(m: ExtensionManifest, requested: string, state = 'enabled', installed: string | null = null) {
  return chooseVersion(m, { handlerName: H, requestedVersion: requested, installedVersion: installed, state });
}

test('enabled: the highest manifest version matching the requested one (internal ones included)', () => {
  const m = manifest('manifest.xml');
  const cases: [string, string][] = [
    ['1.0.0', '1.0.0'],
    ['1.0', '1.0.0'],
    ['1.1', '1.1.1'],
    ['1', '1.3.0'],
    ['2', '2.4.0'],
    ['2.1', '2.1.1'],
    ['3', '3.1'],
    ['3.0', '3.0'],
    ['4', '4.1.0.0'],
    ['4.0.0', '4.0.0.1'],
    ['4.0.0.0', '4.0.0.0'],
  ];
  for (const [requested, expected] of cases) {
    const c = pick(m, requested);
    assert.equal(c.version, expected, `requested ${requested}`);
    assert.equal(c.package?.version, expected);
  }
  assert.deepEqual(pick(m, '2.2').package?.uris, ['http://mock-goal-state/host/OSTCExtensions.ExampleHandlerLinux__2.2.0']);
});

test('enabled: a version not in the manifest is an error for operation Download, never a guess', () => {
  const m = manifest('manifest.xml');
  for (const requested of ['5.0', '3.0.0', '1.4', '2.1.2']) {
    assert.throws(
      () => pick(m, requested),
      (e: unknown) =>
        isAgentError(e, 'extension') &&
        e.message === `Unable to find version ${requested} of ${H} in its manifest` &&
        e.context.operation === 'Download',
    );
  }
  assert.throws(
    () => pick(m, 'latest'),
    /the requested version of OSTCExtensions\.ExampleHandlerLinux "latest" is not a dotted version number/,
  );
});

test('disabled and uninstall keep the installed version, even when it left the manifest', () => {
  const m = manifest('manifest.xml');
  const d = pick(m, '2.2', 'disabled', '1.1.0');
  assert.equal(d.version, '1.1.0');
  assert.equal(d.package?.version, '1.1.0');
  const u = pick(m, '2.2', 'uninstall', '1.5.0');
  assert.equal(u.version, '1.5.0');
  assert.equal(u.package, null);
  // nothing installed: the requested version is the one "installed", matched exactly
  assert.equal(pick(m, '1.1', 'uninstall').package, null);
  assert.equal(pick(m, '1.1.0', 'Uninstall').package?.version, '1.1.0');
});
