import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createZip, type ZipWriteEntry } from '../../../src/archive/zip-write.ts';
import { Config } from '../../../src/config/index.ts';
import { isAgentError, type ErrorKind } from '../../../src/util/errors.ts';
import { handlerEnvironmentJson, writeHandlerEnvironment } from '../../../src/extensions/package/handler-environment.ts';
import { parseHandlerManifest, readHandlerManifest } from '../../../src/extensions/package/handler-manifest.ts';
import {
  compareVersions,
  findInstalledVersion,
  readExtensionState,
  readHandlerState,
  readHandlerStatus,
  writeExtensionState,
  writeHandlerState,
  writeHandlerStatus,
} from '../../../src/extensions/package/handler-state.ts';
import { installHandlerPackage, unpackHandler } from '../../../src/extensions/package/install-package.ts';
import {
  handlerLayout,
  layoutRoots,
  packageZipName,
  parseHandlerDirName,
  parsePackageZipName,
  type LayoutRoots,
} from '../../../src/extensions/package/layout.ts';
import { PyFloat, pythonJsonDumps } from '../../../src/util/python-json.ts';
import { settingsFileJson, writeEmptySettingsFile, writeSettingsFile } from '../../../src/extensions/package/settings-files.ts';
import { collectHandlerStatuses } from '../../../src/extensions/lifecycle/report.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const MANIFESTS = join(FIXTURES, 'tests/data/ext/handler_manifest');
const VMACCESS = join(FIXTURES, 'tests/data/signing/Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip');

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function roots(): LayoutRoots {
  const d = mkdtempSync(join(tmpdir(), 'waagent-extpkg-'));
  made.push(d);
  mkdirSync(join(d, 'lib'));
  return { libDir: join(d, 'lib'), logDir: join(d, 'log') };
}
function rejects(kind: ErrorKind, pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isAgentError(e, kind), `expected AgentError(${kind}), got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}
const mode = (p: string): number => statSync(p).mode & 0o7777;

const GOOD_MANIFEST = JSON.stringify([
  {
    name: 'Sample',
    version: 1.0,
    handlerManifest: {
      installCommand: 'install.sh',
      uninstallCommand: 'u.sh',
      updateCommand: 'up.sh',
      enableCommand: 'enable.sh',
      disableCommand: 'd.sh',
    },
  },
]);

describe('HandlerManifest.json (§5.4)', () => {
  const fixture = (name: string) => readHandlerManifest(join(MANIFESTS, name));

  it('reads valid_manifest.json: commands and real booleans', () => {
    const m = fixture('valid_manifest.json');
    assert.equal(m.name, 'ExampleHandlerLinux');
    assert.equal(m.version, 1);
    assert.deepEqual(
      [m.installCommand, m.uninstallCommand, m.updateCommand, m.enableCommand, m.disableCommand],
      ['install_cmd', 'uninstall_cmd', 'update_cmd', 'enable_cmd', 'disable_cmd'],
    );
    assert.deepEqual([m.reportHeartbeat, m.continueOnUpdateFailure, m.supportsMultipleExtensions], [true, true, true]);
    assert.deepEqual(m.nonBooleanFlags, []);
  });
  it('defaults the optional fields (manifest_no_optional_fields.json)', () => {
    const m = fixture('manifest_no_optional_fields.json');
    assert.deepEqual(
      [m.reportHeartbeat, m.continueOnUpdateFailure, m.supportsMultipleExtensions, m.rebootAfterInstall],
      [false, false, false, false],
    );
    assert.equal(m.updateWithInstall, true, 'updateMode missing -> UpdateWithInstall');
    assert.equal(m.resourceLimits, null);
  });
  it('takes string "true" in any case (manifest_boolean_fields_strings.json)', () => {
    const m = fixture('manifest_boolean_fields_strings.json');
    assert.deepEqual([m.reportHeartbeat, m.continueOnUpdateFailure, m.supportsMultipleExtensions], [true, true, true]);
    assert.deepEqual(m.nonBooleanFlags, ['reportHeartbeat', 'continueOnUpdateFailure', 'supportsMultipleExtensions']);
  });
  it('reads string "false" as false (manifest_boolean_fields_false.json)', () => {
    const m = fixture('manifest_boolean_fields_false.json');
    assert.deepEqual([m.reportHeartbeat, m.continueOnUpdateFailure, m.supportsMultipleExtensions], [false, false, false]);
  });
  it('reads anything else as false, and lists it (manifest_boolean_fields_invalid.json)', () => {
    const m = fixture('manifest_boolean_fields_invalid.json');
    assert.deepEqual([m.reportHeartbeat, m.continueOnUpdateFailure, m.supportsMultipleExtensions], [false, false, false]);
    assert.deepEqual(m.nonBooleanFlags, ['reportHeartbeat', 'continueOnUpdateFailure', 'supportsMultipleExtensions']);
  });

  it('accepts the object form, a BOM, updateMode in any case, and resource limits', () => {
    const doc = {
      handlerManifest: { ...JSON.parse(GOOD_MANIFEST)[0].handlerManifest, updateMode: 'updatewithoutinstall', rebootAfterInstall: false },
      resourceLimits: { cpuQuotaPercentage: 50, memoryQuotaInMB: 256, services: [{ name: 'x.service', cpuQuotaPercentage: 5 }] },
    };
    const m = parseHandlerManifest('\ufeff' + JSON.stringify(doc));
    assert.equal(m.updateWithInstall, false);
    assert.equal(m.name, null);
    assert.deepEqual(m.resourceLimits, {
      cpuQuotaPercentage: 50,
      memoryQuotaInMB: 256,
      services: [{ name: 'x.service', cpuQuotaPercentage: 5, memoryQuotaInMB: null }],
    });
    doc.handlerManifest.updateMode = 'UPDATEWITHINSTALL';
    assert.equal(parseHandlerManifest(JSON.stringify([doc])).updateWithInstall, true);
  });

  it('gives a clear error for each malformed manifest', () => {
    const hm = JSON.parse(GOOD_MANIFEST)[0].handlerManifest;
    const bad = (text: string, re: RegExp) =>
      assert.throws(() => parseHandlerManifest(text, 'the test manifest'), rejects('extension', re));
    bad('{not json', /^the test manifest is not valid JSON: /);
    bad('[]', /^the test manifest is an empty array$/);
    bad('"text"', /is not a JSON object or an array of one/);
    bad('[{"name": "x"}]', /has no "handlerManifest" object/);
    const { enableCommand: _e, ...noEnable } = hm;
    bad(JSON.stringify([{ handlerManifest: noEnable }]), /^the test manifest has no "enableCommand"$/);
    bad(JSON.stringify([{ handlerManifest: { ...hm, installCommand: '  ' } }]), /has an empty "installCommand"/);
    bad(JSON.stringify([{ handlerManifest: { ...hm, disableCommand: 3 } }]), /"disableCommand" that is not a string/);
  });

  it('needs only the commands asked for (the agent package has only enableCommand)', () => {
    const text = JSON.stringify([{ handlerManifest: { installCommand: '', enableCommand: 'python -u bin/agent.egg -run-exthandlers' } }]);
    const m = parseHandlerManifest(text, 'agent', { required: ['enableCommand'] });
    assert.equal(m.enableCommand, 'python -u bin/agent.egg -run-exthandlers');
    assert.equal(m.uninstallCommand, '');
    assert.throws(() => parseHandlerManifest(text, 'agent'), rejects('extension', /empty "installCommand"/));
  });

  it('names a missing manifest file', () => {
    assert.throws(
      () => readHandlerManifest('/nonexistent/HandlerManifest.json'),
      rejects('extension', /the handler manifest \/nonexistent\/HandlerManifest\.json does not exist/),
    );
  });
});

describe('layout (§5.3, §5.6, §5.7)', () => {
  it('puts every path where the Python agent does', () => {
    const l = handlerLayout(layoutRoots(Config.defaults()), 'Microsoft.Azure.Extensions.CustomScript', '2.1.10');
    const base = '/var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.10';
    assert.equal(l.baseDir, base);
    assert.equal(l.packageZip, '/var/lib/waagent/Microsoft.Azure.Extensions.CustomScript__2.1.10.zip');
    assert.equal(l.handlerStateFile, `${base}/config/HandlerState`);
    assert.equal(l.handlerStatusFile, `${base}/config/HandlerStatus`);
    assert.equal(l.settingsFile(3, null), `${base}/config/3.settings`);
    assert.equal(l.settingsFile(3, 'first'), `${base}/config/first.3.settings`);
    assert.equal(l.statusFile(3, null), `${base}/status/3.status`);
    assert.equal(l.statusFile(3, 'first'), `${base}/status/first.3.status`);
    assert.equal(l.extensionStateFile('first'), `${base}/config/first.HandlerState`);
    assert.equal(l.heartbeatFile, `${base}/heartbeat.log`);
    assert.equal(l.mrseqFile, `${base}/mrseq`);
    assert.equal(l.eventsFolder, '/var/log/azure/Microsoft.Azure.Extensions.CustomScript/events');
    assert.equal(l.commandLogFile(null), '/var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution.log');
    assert.equal(l.commandLogFile('first'), '/var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution_first.log');
    const custom = layoutRoots(Config.from({ 'Lib.Dir': '/x/lib', 'Extension.LogDir': '/x/log' }));
    assert.deepEqual(custom, { libDir: '/x/lib', logDir: '/x/log' });
  });
  it('makes no path of a name or version that could climb out (the second check, after the parsers)', () => {
    const r = layoutRoots(Config.defaults());
    const refused = (f: () => unknown, what: RegExp) => assert.throws(f, (e) => isAgentError(e, 'extension') && what.test(e.message));
    refused(
      () => handlerLayout(r, '../../../etc/advpwn', '1.0.0'),
      /^no path is made for it: the handler name "\.\.\/\.\.\/\.\.\/etc\/advpwn" is not a valid handler name/,
    );
    refused(
      () => handlerLayout(r, 'P.T', '1.0/../../../etc'),
      /the version "1\.0\/\.\.\/\.\.\/\.\.\/etc" of the handler P\.T is not a valid version/,
    );
    refused(() => packageZipName('a b', '1.0'), /the handler name "a b"/);
    const l = handlerLayout(r, 'P.T', '1.0');
    refused(() => l.statusFile(0, '../../x'), /the extension name "\.\.\/\.\.\/x" of the handler P\.T/);
    refused(() => l.settingsFile(0, '.hidden'), /the extension name "\.hidden"/);
    refused(() => l.extensionStateFile('a/b'), /the extension name "a\/b"/);
    refused(() => l.commandLogFile('x\ny'), /the extension name "x\\ny"/);
  });
  it('a handler with an unsafe name is reported NotReady from its reason, without reading or writing any file', async () => {
    const r = roots();
    const [st] = await collectHandlerStatuses(
      [{ name: '../../../etc/advpwn', version: '1.0.0', state: 'enabled', isMultiConfig: false, useExactVersion: false, extensions: [] }],
      { roots: r, extensionsEnabled: true },
    );
    assert.equal(st?.status, 'NotReady');
    assert.equal(st?.code, -1);
    assert.match(
      st?.message ?? '',
      /^Ran into config errors: the handler name "\.\.\/\.\.\/\.\.\/etc\/advpwn" is not a valid handler name/,
    );
    assert.deepEqual(st?.extensions, []);
    assert.deepEqual(readdirSync(r.libDir), []);
    assert.equal(existsSync(r.logDir), false);
  });
  it('parses handler directory and package names', () => {
    assert.deepEqual(parseHandlerDirName('Microsoft.OSTCExtensions.VMAccessForLinux-1.5.11'), {
      name: 'Microsoft.OSTCExtensions.VMAccessForLinux',
      version: '1.5.11',
    });
    assert.equal(parseHandlerDirName('WALinuxAgent-2.9.1.1-py3.egg'), null);
    assert.equal(parseHandlerDirName('history'), null);
    assert.deepEqual(parsePackageZipName('Microsoft.OSTCExtensions.Edp.VMAccessForLinux__1.7.0.zip'), {
      name: 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux',
      version: '1.7.0',
    });
    assert.equal(parsePackageZipName('WALinuxAgent-2.9.1.1.zip'), null);
  });
});

describe('HandlerEnvironment.json (§5.5)', () => {
  it('is written as the Python agent writes it', () => {
    const r = roots();
    const l = handlerLayout(r, 'Pub.Type', '1.2');
    mkdirSync(l.baseDir);
    writeHandlerEnvironment(l);
    const text = readFileSync(l.environmentFile, 'utf8');
    const b = l.baseDir;
    const logs = join(r.logDir, 'Pub.Type');
    assert.equal(
      text,
      `[{"name": "Pub.Type", "version": 1.0, "handlerEnvironment": {"logFolder": "${logs}", "configFolder": "${b}/config", ` +
        `"statusFolder": "${b}/status", "heartbeatFile": "${b}/heartbeat.log", "eventsFolder": "${logs}/events", "eventsFolder_preview": "${logs}/events"}}]`,
    );
    assert.equal(text, handlerEnvironmentJson(l));
    const doc = JSON.parse(text);
    assert.equal(Object.keys(doc[0].handlerEnvironment).includes('deploymentid'), false);
    assert.equal(mode(l.environmentFile), 0o644);
  });
});

describe('settings files (§5.6)', () => {
  const layout = () => {
    const l = handlerLayout(roots(), 'Pub.Type', '1.0');
    mkdirSync(l.configDir, { recursive: true });
    return l;
  };

  it('writes all three handler settings, null when absent', () => {
    assert.equal(
      settingsFileJson({ name: 'Pub.Type', seqNo: 0 }),
      '{"runtimeSettings": [{"handlerSettings": {"publicSettings": null, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}',
    );
    assert.equal(
      settingsFileJson({ name: 'x', seqNo: 1, publicSettings: {}, protectedSettings: null, certificateThumbprint: null }),
      '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {}, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}',
    );
  });

  it('keeps public settings and the protected blob as given, in json.dumps form', () => {
    const blob = 'MIIB+jCCAQ==\nAbc/def+ghi=';
    const text = settingsFileJson({
      name: 'x',
      seqNo: 2,
      publicSettings: { commandToExecute: 'echo "hi" & café', n: 5, f: 0.5, list: [true, null] },
      protectedSettings: blob,
      certificateThumbprint: 'ABCDEF0123',
    });
    assert.equal(
      text,
      '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"commandToExecute": "echo \\"hi\\" & caf\\u00e9", "n": 5, "f": 0.5, ' +
        '"list": [true, null]}, "protectedSettings": "MIIB+jCCAQ==\\nAbc/def+ghi=", "protectedSettingsCertThumbprint": "ABCDEF0123"}}]}',
    );
    assert.equal(JSON.parse(text).runtimeSettings[0].handlerSettings.protectedSettings, blob);
  });

  it('names the file by seqNo (and extension for multi-config), atomically, mode 0600', () => {
    const l = layout();
    const s = { name: 'first', seqNo: 7, publicSettings: { a: 1 }, protectedSettings: null, certificateThumbprint: null };
    assert.equal(writeSettingsFile(l, s, false), join(l.configDir, '7.settings'));
    assert.equal(writeSettingsFile(l, s, true), join(l.configDir, 'first.7.settings'));
    assert.equal(readFileSync(join(l.configDir, 'first.7.settings'), 'utf8'), settingsFileJson(s));
    assert.equal(mode(join(l.configDir, '7.settings')), 0o600);
    assert.deepEqual(readdirSync(l.configDir).sort(), ['7.settings', 'first.7.settings'], 'no temporary files left');
  });

  it('writes an empty 0.settings for a handler without settings', () => {
    const l = layout();
    assert.equal(writeEmptySettingsFile(l), join(l.configDir, '0.settings'));
    assert.equal(readFileSync(join(l.configDir, '0.settings'), 'utf8'), '');
  });

  it('dumps numbers and text like Python json.dumps', () => {
    assert.equal(
      pythonJsonDumps([1, 2.5, 1e-7, 1.5e21, new PyFloat(1), 'é\u2028😀\x01"\\/\x7f']),
      '[1, 2.5, 1e-07, 1.5e+21, 1.0, "\\u00e9\\u2028\\ud83d\\ude00\\u0001\\"\\\\/\\u007f"]',
    );
    assert.equal(pythonJsonDumps({ b: null, a: true, u: undefined }), '{"b": null, "a": true}');
  });
});

describe('handler state (§5.7)', () => {
  it('reads NotInstalled when missing, and what was written', () => {
    const l = handlerLayout(roots(), 'Pub.Type', '1.0');
    assert.equal(readHandlerState(l), 'NotInstalled');
    writeHandlerState(l, 'Enabled');
    assert.equal(readFileSync(l.handlerStateFile, 'utf8'), 'Enabled', 'no newline');
    assert.equal(mode(l.configDir), 0o700);
    assert.equal(readHandlerState(l), 'Enabled');
    writeFileSync(l.handlerStateFile, 'FailedUpgrade\n');
    assert.equal(readHandlerState(l), 'FailedUpgrade');
    writeFileSync(l.handlerStateFile, 'Bogus');
    assert.equal(readHandlerState(l), 'Installed', 'unknown text is neither NotInstalled nor FailedUpgrade');
    writeFileSync(l.handlerStateFile, '');
    assert.equal(readHandlerState(l), 'NotInstalled');
  });

  it('keeps multi-config extension states apart; missing is disabled', () => {
    const l = handlerLayout(roots(), 'Pub.Type', '1.0');
    assert.equal(readExtensionState(l, 'first'), 'disabled');
    writeExtensionState(l, 'first', 'enabled');
    assert.equal(readExtensionState(l, 'first'), 'enabled');
    assert.equal(readExtensionState(l, 'second'), 'disabled');
    assert.equal(readFileSync(l.extensionStateFile('first'), 'utf8'), 'enabled');
  });

  it('round-trips HandlerStatus in the Python agent format', () => {
    const l = handlerLayout(roots(), 'Pub.Type', '1.0');
    assert.equal(readHandlerStatus(l), null);
    const s = { name: 'Pub.Type', version: '1.0', status: 'Ready', code: 0, message: 'Plugin enabled', supportsMultiConfig: false };
    writeHandlerStatus(l, s);
    assert.equal(
      readFileSync(l.handlerStatusFile, 'utf8'),
      '{"name": "Pub.Type", "version": "1.0", "status": "Ready", "code": 0, "message": "Plugin enabled", "supports_multi_config": false, "extension_status": null}',
    );
    assert.deepEqual(readHandlerStatus(l), s);
    writeFileSync(l.handlerStatusFile, '{broken');
    assert.equal(readHandlerStatus(l), null);
  });

  it('finds the highest installed version, skipping NotInstalled, FailedUpgrade and stray names', () => {
    const r = roots();
    const put = (v: string, state: string | null) => {
      const l = handlerLayout(r, 'Pub.Type', v);
      mkdirSync(l.configDir, { recursive: true });
      if (state !== null) writeFileSync(l.handlerStateFile, state);
    };
    assert.equal(findInstalledVersion(r.libDir, 'Pub.Type'), null);
    put('1.9', 'Installed');
    put('1.10', 'Enabled');
    put('2.0', 'FailedUpgrade');
    put('3.0', 'NotInstalled');
    put('4.0', null);
    mkdirSync(join(r.libDir, 'Pub.Type-5.0-backup', 'config'), { recursive: true });
    writeFileSync(join(r.libDir, 'Pub.Type__9.0.zip'), '');
    assert.equal(findInstalledVersion(r.libDir, 'Pub.Type'), '1.10');
    assert.equal(findInstalledVersion(r.libDir, 'Pub'), null);
    assert.ok(compareVersions('1.10', '1.9') > 0 && compareVersions('1.0', '1.0.0') < 0 && compareVersions('2.0', '2.0') === 0);
  });
});

describe('unpacking a handler package (§5.3)', () => {
  const zipIn = (r: LayoutRoots, entries: ZipWriteEntry[], name = 'Pub.Type', version = '1.0') => {
    const l = handlerLayout(r, name, version);
    writeFileSync(l.packageZip, createZip(entries, { raw: true }));
    return l;
  };

  it('unpacks the recorded VMAccess package: u+x everywhere, config/ and status/ 0700, zip deleted', async () => {
    const r = roots();
    const l = handlerLayout(r, 'Microsoft.OSTCExtensions.Edp.VMAccessForLinux', '1.7.0');
    copyFileSync(VMACCESS, l.packageZip);
    const m = await unpackHandler(l.packageZip, l.baseDir);
    assert.equal(m.enableCommand, 'extension_shim.sh -c ./vmaccess.py  -e');
    assert.equal(m.reportHeartbeat, false);
    assert.equal(existsSync(l.packageZip), false);
    assert.equal(mode(join(l.baseDir, 'vmaccess.py')), 0o744, '0664 in the zip, group write masked, + u+x');
    assert.equal(mode(join(l.baseDir, 'resources/default')), 0o744);
    assert.equal(mode(join(l.baseDir, 'extension_shim.sh')), 0o755, '0775 in the zip, group write masked');
    assert.equal(mode(l.configDir), 0o700);
    assert.equal(mode(l.statusDir), 0o700);
  });

  it('finds a nested HandlerManifest.json and copies it to the base dir without its BOM', async () => {
    const r = roots();
    const l = zipIn(r, [
      { name: 'pkg/HandlerManifest.json', data: '\ufeff' + GOOD_MANIFEST },
      { name: 'pkg/enable.sh', data: 'exit 0' },
    ]);
    const m = await unpackHandler(l.packageZip, l.baseDir, { keepZip: true });
    assert.equal(m.enableCommand, 'enable.sh');
    assert.equal(readFileSync(l.manifestFile, 'utf8'), GOOD_MANIFEST);
    assert.equal(existsSync(l.packageZip), true, 'keepZip');
  });

  it('rejects a package without a manifest, or with a bad one, and removes what it unpacked and the zip', async () => {
    for (const [entries, re] of [
      [[{ name: 'enable.sh', data: 'x' }], /has no HandlerManifest\.json/],
      [[{ name: 'HandlerManifest.json', data: '[{"handlerManifest": {}}]' }], /has no "installCommand"/],
    ] as Array<[ZipWriteEntry[], RegExp]>) {
      const r = roots();
      const l = zipIn(r, entries);
      await assert.rejects(unpackHandler(l.packageZip, l.baseDir), rejects('extension', re));
      assert.deepEqual(readdirSync(r.libDir), [], 'neither the base dir nor the zip is left');
    }
  });

  it('rejects a multi-config goal state for a handler that does not declare it', async () => {
    const r = roots();
    const l = zipIn(r, [{ name: 'HandlerManifest.json', data: GOOD_MANIFEST }]);
    await assert.rejects(
      unpackHandler(l.packageZip, l.baseDir, { multiConfig: true }),
      rejects('extension', /does not declare supportsMultipleExtensions/),
    );
    assert.deepEqual(readdirSync(r.libDir), []);
  });

  it('refuses a hostile package and leaves nothing behind', async () => {
    const r = roots();
    const l = zipIn(r, [
      { name: 'HandlerManifest.json', data: GOOD_MANIFEST },
      { name: '../../evil', data: 'x' },
    ]);
    await assert.rejects(unpackHandler(l.packageZip, l.baseDir), rejects('extension', /entry "\.\.\/\.\.\/evil" .* "\.\." component/));
    assert.deepEqual(readdirSync(r.libDir), []);
    assert.equal(existsSync(join(r.libDir, '..', '..', 'evil')), false);
  });

  it('installs a package: events folder 0700 and HandlerEnvironment.json', async () => {
    const r = roots();
    const l = zipIn(r, [
      { name: 'HandlerManifest.json', data: GOOD_MANIFEST },
      { name: 'bin/enable.sh', data: '#!/bin/sh\n', mode: 0o644 },
    ]);
    const m = await installHandlerPackage(l);
    assert.equal(m.installCommand, 'install.sh');
    assert.equal(mode(join(l.baseDir, 'bin/enable.sh')), 0o744);
    assert.equal(mode(l.eventsFolder), 0o700);
    assert.equal(readFileSync(l.environmentFile, 'utf8'), handlerEnvironmentJson(l));
    assert.deepEqual(readdirSync(l.baseDir).sort(), ['HandlerEnvironment.json', 'HandlerManifest.json', 'bin', 'config', 'status']);
  });
});
