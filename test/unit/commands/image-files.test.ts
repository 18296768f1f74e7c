// The files image builders take from init/: each waagent.conf parses without a warning and keeps every value of
// the WALinuxAgent file it comes from (Flatcar: except the documented Flatcar values); the units are what
// -register-service writes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemdUnit } from '../../../src/commands/register-service.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { FIXTURES, REPO_ROOT } from '../../helpers/paths.ts';

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
      assert.deepEqual(config.warnings.map((w) => w.message), []);
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

  it('the systemd units are the ones -register-service writes', () => {
    const read = (p: string) => readFileSync(join(INIT, p), 'utf8');
    assert.equal(read('systemd/waagent.service'), systemdUnit({ binary: '/usr/sbin/waagent', confPath: '/etc/waagent.conf', sysext: false, sshdService: 'sshd' }));
    const flatcar = read('flatcar/waagent.service');
    assert.equal(flatcar, systemdUnit({ binary: '/usr/sbin/waagent', confPath: '/etc/waagent.conf', sysext: true, sshdService: null }));
    assert.match(flatcar, /^After=systemd-sysext\.service /m);
    assert.match(read('flatcar/10-waagent-sysext.conf'), /^Upholds=waagent\.service$/m);
  });

  it('the logrotate file rotates the agent log at 20 MB, 50 kept, compressed', () => {
    const text = readFileSync(join(INIT, 'logrotate', 'waagent'), 'utf8');
    assert.match(text, /^\/var\/log\/waagent\.log \{$/m);
    for (const d of ['compress', 'size 20M', 'rotate 50', 'notifempty', 'missingok']) assert.match(text, new RegExp(`^\\s+${d}$`, 'm'), d);
  });
});
