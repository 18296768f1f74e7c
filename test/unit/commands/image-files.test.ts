// The files image builders take from init/: each waagent.conf parses without a warning and keeps every value of
// the WALinuxAgent file it comes from (Flatcar: except the documented Flatcar values); the units are what
// -register-service writes.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemdUnit } from '../../../src/commands/register-service.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { FIXTURES, REPO_ROOT } from '../../helpers/paths.ts';
import { familyUnit, sysextTree } from '../../../scripts/image-artifacts.mjs';

const INIT = join(REPO_ROOT, 'init');
const SOURCES: Record<string, string> = {
  rhel: 'waagent.conf',
  debian: 'debian/waagent.conf',
  ubuntu: 'ubuntu/waagent.conf',
  suse: 'suse/waagent.conf',
  azurelinux: 'mariner/waagent.conf',
  flatcar: 'coreos/waagent.conf',
};
const FLATCAR_CHANGES: Record<string, string> = {
  'Provisioning.Agent': 'waagent',
  'Provisioning.DecodeCustomData': 'y',
  'AutoUpdate.Enabled': 'n',
};

/** key → value of the live lines (later lines win), as written. */
function assignments(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes('=')) continue;
    const i = line.indexOf('=');
    m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

describe('image builder files', () => {
  for (const [family, source] of Object.entries(SOURCES)) {
    it(`init/conf/waagent.conf.${family} parses cleanly and matches ${source}`, () => {
      const file = join(INIT, 'conf', `waagent.conf.${family}`);
      const text = readFileSync(file, 'utf8');
      const config = parseConfig(text, file);
      assert.deepEqual(
        config.warnings.map((w) => w.message),
        [],
      );
      const ours = assignments(text);
      const theirs = assignments(readFileSync(join(FIXTURES, 'config', source), 'utf8'));
      const expected = new Map(theirs);
      if (family === 'flatcar') for (const [k, v] of Object.entries(FLATCAR_CHANGES)) expected.set(k, v);
      assert.deepEqual(Object.fromEntries(ours), Object.fromEntries(expected));
      if (family === 'flatcar') {
        assert.equal(config.str('Provisioning.Agent'), 'waagent');
        assert.equal(config.bool('AutoUpdate.Enabled'), false);
      }
    });
  }

  const read = (p: string) => readFileSync(join(INIT, p), 'utf8');

  it('the systemd units are the ones -register-service writes', () => {
    assert.equal(
      read('systemd/waagent.service'),
      systemdUnit({ binary: '/usr/sbin/waagent', confPath: '/etc/waagent.conf', sysext: false, sshdService: 'sshd' }),
    );
    const flatcar = read('flatcar/waagent.service');
    assert.equal(flatcar, systemdUnit({ binary: '/usr/sbin/waagent', confPath: '/etc/waagent.conf', sysext: true, sshdService: null }));
    assert.match(flatcar, /^After=systemd-sysext\.service /m);
    // after -deprovision neither unit starts again until the next boot (the marker lives in /run)
    for (const unit of [read('systemd/waagent.service'), flatcar])
      assert.match(unit, /^ConditionPathExists=!\/run\/waagent\/deprovisioned$/m);
  });

  it('the system extension starts the agent once per boot through an upheld target, never the agent itself', () => {
    // Upholds= on the agent would undo every stop and -deprovision
    assert.match(read('flatcar/10-waagent-sysext.conf'), /^Upholds=waagent-sysext\.target$/m);
    assert.doesNotMatch(read('flatcar/10-waagent-sysext.conf'), /^Upholds=waagent\.service/m);
    assert.match(read('flatcar/waagent-sysext.target'), /^Wants=waagent\.service$/m);
    const tree = mkdtempSync(join(tmpdir(), 'waagent-sysext-'));
    try {
      sysextTree(join(tree, 'waagent'), process.execPath, 'arm64');
      const root = join(tree, 'waagent');
      const lib = 'usr/lib/systemd/system';
      assert.equal(readFileSync(join(root, lib, 'waagent.service'), 'utf8'), read('flatcar/waagent.service'));
      assert.equal(readFileSync(join(root, lib, 'waagent-sysext.target'), 'utf8'), read('flatcar/waagent-sysext.target'));
      assert.equal(
        readFileSync(join(root, lib, 'multi-user.target.d/10-waagent-sysext.conf'), 'utf8'),
        read('flatcar/10-waagent-sysext.conf'),
      );
      assert.equal(
        readFileSync(join(root, 'usr/lib/extension-release.d/extension-release.waagent'), 'utf8'),
        'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\n',
      );
      assert.equal(statSync(join(root, 'usr/sbin/waagent')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(join(root, lib, 'multi-user.target.wants/waagent-sysext.target')), '../waagent-sysext.target');
      const all = readdirSync(root, { recursive: true }).map(String).sort();
      assert.deepEqual(
        all.filter((p) => !statSync(join(root, p)).isDirectory()),
        [
          'usr/lib/extension-release.d/extension-release.waagent',
          `${lib}/multi-user.target.d/10-waagent-sysext.conf`,
          `${lib}/multi-user.target.wants/waagent-sysext.target`,
          `${lib}/waagent-sysext.target`,
          `${lib}/waagent.service`,
          'usr/sbin/waagent',
        ],
      );
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it("the root trees' units are what -register-service writes for the family (Debian and Ubuntu want ssh.service)", () => {
    const unit = (sshdService: string) =>
      systemdUnit({ binary: '/usr/sbin/waagent', confPath: '/etc/waagent.conf', sysext: false, sshdService });
    for (const family of ['debian', 'ubuntu']) assert.equal(familyUnit(family), unit('ssh'), family);
    for (const family of ['rhel', 'suse', 'azurelinux']) assert.equal(familyUnit(family), unit('sshd'), family);
  });

  it('the logrotate file rotates the agent log at 20 MB, 50 kept, compressed', () => {
    const text = readFileSync(join(INIT, 'logrotate', 'waagent'), 'utf8');
    assert.match(text, /^\/var\/log\/waagent\.log \{$/m);
    for (const d of ['compress', 'size 20M', 'rotate 50', 'notifempty', 'missingok']) assert.match(text, new RegExp(`^\\s+${d}$`, 'm'), d);
  });
});
