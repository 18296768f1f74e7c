import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AgentError } from '../../../src/util/errors.ts';
import type { HealthReport } from '../../../src/fabric/documents/health-report.ts';
import type { FullGoalState } from '../../../src/fabric/goal-state.ts';
import type { PlatformSession } from '../../../src/fabric/session.ts';
import { run } from '../../../src/os/exec.ts';
import { decodeRecords } from '../../../src/provisioning/kvp.ts';
import { createReporter } from '../../../src/provisioning/reporter.ts';
import { configureSshd } from '../../../src/provisioning/sshd-apply.ts';
import {
  editSshdConfig,
  opensshVersionInBinary,
  parseOpensshVersion,
  planSshdConfig,
  sshdSettings,
} from '../../../src/provisioning/sshd-config.ts';
import { findSshdListeners, reloadSshd } from '../../../src/provisioning/sshd-reload.ts';
import { parseOsRelease } from '../../../src/os/distro.ts';
import { profileFor } from '../../../src/os/distro-profile.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { configOn, fakeTools, rejectsWith, tempRoot } from './prov-helpers.ts';

const FIXTURE = join(FIXTURES, 'tests/data/wire/sshd_config');
const disable = sshdSettings(true, 180, true);

/** Lines of a config that are not comments or blank. */
function live(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

describe('sshd_config edits (§4.5, §10 item 30)', () => {
  it('edits the fixture: replaces the global ChallengeResponse line, inserts the rest before its Match block', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    const out = editSshdConfig(text, disable);
    const lines = live(out);
    const match = lines.indexOf('Match group root');
    assert.equal(match, lines.length - 1, 'the Match block stays last');
    assert.deepEqual(lines.slice(match - 2, match), ['PasswordAuthentication no', 'ClientAliveInterval 180']);
    // the old name was set globally: on OpenSSH >= 8.7 it is the same option, replaced in place
    assert.ok(lines.includes('KbdInteractiveAuthentication no'));
    assert.ok(!lines.some((l) => l.startsWith('ChallengeResponseAuthentication')));
    assert.ok(out.includes('#PasswordAuthentication yes'), 'the commented line is not taken for a setting');
    assert.equal(out.split('\n').length, text.split('\n').length + 2);
  });

  it('uses ChallengeResponseAuthentication before OpenSSH 8.7', () => {
    const out = editSshdConfig('KbdInteractiveAuthentication yes\n', sshdSettings(false, 60, false));
    // before 8.7 the two are different options: the Kbd line is left alone
    assert.deepEqual(live(out), [
      'KbdInteractiveAuthentication yes',
      'PasswordAuthentication yes',
      'ChallengeResponseAuthentication yes',
      'ClientAliveInterval 60',
    ]);
  });

  it("ignores settings inside Match blocks, keyword case and = syntax are sshd's", () => {
    const text = 'Port 22\nMatch user bob\n  PasswordAuthentication yes\nMatch all\npasswordauthentication=yes\n';
    const out = editSshdConfig(text, [disable[0]!]);
    // the global line after `Match all` is the first one outside a block: it is replaced, the scoped one is not
    assert.equal(out, 'Port 22\nMatch user bob\n  PasswordAuthentication yes\nMatch all\nPasswordAuthentication no\n');
    assert.equal(editSshdConfig('Port 22', [disable[2]!]), 'Port 22\nClientAliveInterval 180\n');
  });

  it('reads the OpenSSH version', () => {
    assert.deepEqual(parseOpensshVersion('OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19'), [9, 2]);
    assert.deepEqual(parseOpensshVersion('usage: sshd\nOpenSSH_7.4p1, OpenSSL'), [7, 4]);
    assert.equal(parseOpensshVersion('sshd: command not found'), null);
  });

  it('reads the OpenSSH version from the sshd executable: whole version strings only, all agreeing', async () => {
    const bin = (...strings: string[]) => Buffer.from(`\x7fELF\0${strings.join('\0')}\0`, 'latin1');
    const compat = ['OpenSSH_2*,OpenSSH_3*,OpenSSH_4*', 'OpenSSH_7.4*', 'OpenSSH_6.6.1*', 'OpenSSH_3.*'];
    assert.deepEqual(opensshVersionInBinary(bin(...compat, 'OpenSSH_9.2', 'OpenSSH_9.2p1 Debian-2+deb12u10', 'OpenSSH_9.2p1')), [9, 2]);
    assert.deepEqual(opensshVersionInBinary(bin('OpenSSH_8.7p1', ...compat)), [8, 7]);
    assert.deepEqual(opensshVersionInBinary(bin('OpenSSH_10.0p2 Ubuntu-5ubuntu1')), [10, 0]);
    assert.equal(opensshVersionInBinary(bin(...compat)), null, 'compat patterns are not a version');
    assert.equal(opensshVersionInBinary(bin('OpenSSH_9.2', 'OpenSSH_8.4p1')), null, 'two versions: not sure');
    assert.equal(opensshVersionInBinary(bin('SSH-2.0-OpenSSH_9.9', 'xOpenSSH_9.9')), null, 'inside longer strings');
    assert.equal(opensshVersionInBinary(bin('OpenSSH_%d.%d')), null);
    assert.equal(opensshVersionInBinary(Buffer.from('#!/bin/sh\nexec /usr/sbin/sshd "$@"\n')), null);
    // this machine's sshd: the bytes say what `sshd -V` says
    const r = await run(['/usr/sbin/sshd', '-V'], { allowFailure: true });
    const said = parseOpensshVersion(r.stderr + r.stdout);
    assert.notEqual(said, null, r.stderr);
    assert.deepEqual(opensshVersionInBinary(readFileSync('/usr/sbin/sshd')), said);
  });
});

describe('drop-in or main file', () => {
  const debian = (dir: string) =>
    `Include ${dir}/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n`;

  it('puts everything in the drop-in when the Include comes first (Debian 12 layout), main untouched', () => {
    const plan = planSshdConfig(debian('/etc/ssh'), '/etc/ssh', disable, true);
    assert.equal(plan.main, null);
    assert.deepEqual(live(plan.dropIn!), ['PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'ClientAliveInterval 180']);
  });

  it('resolves a relative Include against the ssh directory', () => {
    const plan = planSshdConfig('Include sshd_config.d/*.conf\n', '/etc/ssh', disable, true);
    assert.equal(plan.main, null);
    assert.notEqual(plan.dropIn, null);
  });

  it('edits the main file for an option it sets above the Include (that line would win)', () => {
    const plan = planSshdConfig(`PasswordAuthentication yes\n${debian('/etc/ssh')}`, '/etc/ssh', disable, true);
    assert.deepEqual(live(plan.main!)[0], 'PasswordAuthentication no');
    assert.deepEqual(live(plan.dropIn!), ['KbdInteractiveAuthentication no', 'ClientAliveInterval 180']);
  });

  it('does not count an Include inside a Match block or of another directory', () => {
    const plan = planSshdConfig(
      'Include /etc/other/*.conf\nMatch user x\n Include /etc/ssh/sshd_config.d/*.conf\n',
      '/etc/ssh',
      disable,
      true,
    );
    assert.equal(plan.dropIn, null);
    assert.deepEqual(live(plan.main!).slice(0, 4), [
      'Include /etc/other/*.conf',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'ClientAliveInterval 180',
    ]);
  });

  it('read-only main (Flatcar): drop-in only; an error when it cannot take effect', async () => {
    const plan = planSshdConfig(debian('/etc/ssh'), '/etc/ssh', disable, false);
    assert.equal(plan.main, null);
    assert.notEqual(plan.dropIn, null);
    const pinned = planSshdConfig(`ClientAliveInterval 0\n${debian('/etc/ssh')}`, '/etc/ssh', disable, false);
    assert.deepEqual(
      pinned.ineffective.map((s) => s.names[0]),
      ['ClientAliveInterval'],
    );
    await rejectsWith(
      () => planSshdConfig('Port 22\n', '/etc/ssh', disable, false),
      'provisioning',
      /cannot set PasswordAuthentication and KbdInteractiveAuthentication for sshd: \/etc\/ssh\/sshd_config is read-only and it does not include sshd_config.d/,
    );
  });
});

describe('configureSshd with the real sshd -t', () => {
  let hostKey = '';
  let sshdCalls: () => string[] = () => [];
  // sshd -t needs its privilege separation directory: give it one in a private mount namespace, not on the host.
  const wrapper = `exec unshare -m sh -c 'mount -t tmpfs none /run && mkdir /run/sshd && exec /usr/sbin/sshd "$@"' sh "$@"`;
  before(async () => {
    const tools = fakeTools({ sshd: wrapper });
    sshdCalls = tools.calls;
    hostKey = join(tempRoot(), 'hostkey');
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  });

  async function effective(main: string): Promise<string[]> {
    const r = await run(['sshd', '-T', '-f', main, '-h', hostKey]);
    return r.stdout
      .split('\n')
      .filter((l) => /^(passwordauthentication|kbdinteractiveauthentication|clientaliveinterval) /.test(l))
      .sort();
  }

  it('edits the fixture in place; sshd -t accepts it and sshd -T shows the values', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'ssh'));
    const main = join(root, 'ssh', 'sshd_config');
    writeFileSync(main, readFileSync(FIXTURE));
    const before = sshdCalls().length;
    const r = await configureSshd(configOn(root, { 'OS.SshClientAliveInterval': 120 }), true);
    assert.deepEqual(r, { mainPath: main, written: [main], check: 'ok' }, 'sshd -t took the throw-away ECDSA host key');
    assert.deepEqual(await effective(main), ['clientaliveinterval 120', 'kbdinteractiveauthentication no', 'passwordauthentication no']);
    // the wrapper script holds no version string: sshd -V is asked; the check key was made in-process
    const calls = sshdCalls().slice(before);
    assert.equal(calls[0], 'sshd -V');
    assert.match(calls[1]!, /^sshd -t -f \S+ -h \/\S+\/waagent-sshd-\w+\/hostkey$/);
    assert.equal(existsSync(dirname(calls[1]!.split(' -h ')[1]!)), false, 'the temporary key is gone');
  });

  it('takes the version from the sshd executable when it holds one, without sshd -V', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'ssh'));
    const main = join(root, 'ssh', 'sshd_config');
    writeFileSync(main, 'Port 22\n');
    // a stand-in sshd whose bytes say 8.4 (the real one, run behind it, is newer): never parsed by sh, after exec
    const bin = tempRoot();
    const log = join(bin, 'calls.log');
    writeFileSync(join(bin, 'sshd'), `#!/bin/sh\necho "sshd $*" >> '${log}'\n${wrapper}\n\0OpenSSH_8.4\0OpenSSH_8.4p1\0`, { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const r = await configureSshd(configOn(root), true);
      assert.equal(r.check, 'ok');
    } finally {
      process.env.PATH = path;
    }
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(calls.length, 1, calls.join('\n'));
    assert.match(calls[0]!, /^sshd -t /);
    // before 8.7 the old name is written
    assert.deepEqual(live(readFileSync(main, 'utf8')), [
      'Port 22',
      'PasswordAuthentication no',
      'ChallengeResponseAuthentication no',
      'ClientAliveInterval 180',
    ]);
  });

  it('OS.SshdConfigPath names an sshd_config outside OS.SshDir (legacy key): that file is edited', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'ssh'));
    const elsewhere = join(root, 'config', 'sshd_config');
    mkdirSync(join(root, 'config'));
    writeFileSync(elsewhere, 'Port 22\n');
    const r = await configureSshd(configOn(root, { 'OS.SshdConfigPath': elsewhere }), true);
    assert.deepEqual(r.written, [elsewhere]);
    assert.deepEqual(await effective(elsewhere), [
      'clientaliveinterval 180',
      'kbdinteractiveauthentication no',
      'passwordauthentication no',
    ]);
  });

  it('writes the drop-in for an including main file; the drop-in wins over the main file', async () => {
    const root = tempRoot();
    const dir = join(root, 'ssh');
    mkdirSync(join(dir, 'sshd_config.d'), { recursive: true });
    const main = join(dir, 'sshd_config');
    const text = `Include ${dir}/sshd_config.d/*.conf\nKbdInteractiveAuthentication yes\nPasswordAuthentication yes\nUsePAM yes\n`;
    writeFileSync(main, text);
    const r = await configureSshd(configOn(root), true);
    assert.deepEqual(r.written, [join(dir, 'sshd_config.d', '50-waagent.conf')]);
    assert.equal(readFileSync(main, 'utf8'), text);
    assert.deepEqual(await effective(main), ['clientaliveinterval 180', 'kbdinteractiveauthentication no', 'passwordauthentication no']);
  });

  it('edits the target of a symlink that is not into /usr, keeping the link', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'ssh'));
    writeFileSync(join(root, 'real_sshd_config'), 'Port 22\n');
    symlinkSync(join(root, 'real_sshd_config'), join(root, 'ssh', 'sshd_config'));
    await configureSshd(configOn(root), false);
    assert.equal(
      readFileSync(join(root, 'real_sshd_config'), 'utf8'),
      'Port 22\nPasswordAuthentication yes\nKbdInteractiveAuthentication yes\nClientAliveInterval 180\n',
    );
    assert.deepEqual(await effective(join(root, 'ssh', 'sshd_config')), [
      'clientaliveinterval 180',
      'kbdinteractiveauthentication yes',
      'passwordauthentication yes',
    ]);
  });

  it('restores the files when sshd -t rejects the result', async () => {
    const root = tempRoot();
    const dir = join(root, 'ssh');
    mkdirSync(dir);
    const text = `Include ${dir}/sshd_config.d/*.conf\nNoSuchOption yes\n`;
    writeFileSync(join(dir, 'sshd_config'), text);
    await rejectsWith(
      configureSshd(configOn(root), true),
      'provisioning',
      /sshd rejected the edited configuration .*sshd_config, which was restored: .*NoSuchOption/,
    );
    assert.equal(readFileSync(join(dir, 'sshd_config'), 'utf8'), text);
    assert.equal(existsSync(join(dir, 'sshd_config.d', '50-waagent.conf')), false);
  });

  it('names the missing file', async () => {
    await rejectsWith(configureSshd(configOn(tempRoot()), true), 'provisioning', /cannot read the sshd configuration .*ssh\/sshd_config/);
  });
});

describe('finding the sshd to reload', () => {
  it('picks the listener, not its per-connection children or other programs', () => {
    const proc = tempRoot();
    const add = (pid: number, comm: string, ppid: number) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), 'comm'), comm + '\n');
      writeFileSync(join(proc, String(pid), 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1\n`);
    };
    add(1, 'init', 0);
    add(40, 'sshd', 1);
    add(41, 'sshd', 40);
    add(50, 'bash', 41);
    add(60, 'sshd', 50); // an sshd started by hand from a login shell: a listener too
    writeFileSync(join(proc, 'uptime'), '1 1\n');
    assert.deepEqual(
      findSshdListeners(proc).sort((a, b) => a - b),
      [40, 60],
    );
  });
});

describe('reloading sshd under systemd', () => {
  const debian = profileFor(parseOsRelease('ID=debian\nVERSION_ID=12\n'));
  const rhel = profileFor(parseOsRelease('ID=rhel\nVERSION_ID=9.4\n'));
  const flatcar = profileFor(parseOsRelease('ID=flatcar\nVERSION_ID=4081.2.0\n'));
  // systemctl answers from files: active, failed, enabled (exit codes), start (exit code of "systemctl start")
  function systemd(state: { active: number; failed: number; enabled: number; start: number }) {
    const root = tempRoot();
    mkdirSync(join(root, 'systemd-system'));
    for (const [k, v] of Object.entries(state)) writeFileSync(join(root, k), String(v));
    const tools = fakeTools({
      systemctl: [
        `case "$1" in is-active) exit "$(cat '${root}/active')";; is-failed) exit "$(cat '${root}/failed')";;`,
        `is-enabled) exit "$(cat '${root}/enabled')";; start) echo "Job failed" >&2; exit "$(cat '${root}/start')";; esac; exit 0`,
      ].join(' '),
    });
    return { marker: join(root, 'systemd-system'), tools };
  }

  it("reloads the profile's unit when it is active (Debian names it ssh, RHEL sshd)", async () => {
    const a = systemd({ active: 0, failed: 1, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: a.marker, profile: debian }), 'systemd');
    assert.deepEqual(a.tools.calls(), [
      'systemctl is-active --quiet ssh.service',
      'systemctl --job-mode=ignore-dependencies try-reload-or-restart ssh',
    ]);
    const b = systemd({ active: 0, failed: 1, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: b.marker, profile: rhel }), 'systemd');
    assert.deepEqual(b.tools.calls(), [
      'systemctl is-active --quiet sshd.service',
      'systemctl --job-mode=ignore-dependencies try-reload-or-restart sshd',
    ]);
  });

  it("the unit and the restart command are the profile's fields, whatever the distro", async () => {
    const madeUp = { ...debian, sshdService: 'my-sshd', sshdRestart: ['systemctl', 'restart', 'my-sshd.service'] };
    const a = systemd({ active: 0, failed: 1, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: a.marker, profile: madeUp }), 'systemd');
    assert.deepEqual(a.tools.calls(), ['systemctl is-active --quiet my-sshd.service', 'systemctl restart my-sshd.service']);
    const b = systemd({ active: 3, failed: 0, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: b.marker, profile: madeUp }), 'started');
    assert.equal(b.tools.calls().at(-1), 'systemctl start my-sshd.service');
  });

  it('golden image first boot: a unit that failed before the host keys existed is reset and started', async () => {
    const a = systemd({ active: 3, failed: 0, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: a.marker, profile: debian }), 'started');
    assert.deepEqual(a.tools.calls(), [
      'systemctl is-active --quiet ssh.service',
      'systemctl is-failed --quiet ssh.service',
      'systemctl reset-failed ssh.service',
      'systemctl start ssh.service',
    ]);
  });

  it('an enabled unit that is not running is started; a disabled one is left alone', async () => {
    const a = systemd({ active: 3, failed: 1, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: a.marker, profile: debian }), 'started');
    assert.equal(a.tools.calls().at(-1), 'systemctl start ssh.service');
    const b = systemd({ active: 3, failed: 1, enabled: 1, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: b.marker, profile: debian }), 'not-running');
    assert.ok(!b.tools.calls().some((c) => c.includes(' start ')), b.tools.calls().join('\n'));
  });

  it('a unit that cannot be started is an error naming the unit', async () => {
    const a = systemd({ active: 3, failed: 0, enabled: 0, start: 1 });
    await rejectsWith(
      reloadSshd({ systemdMarker: a.marker, profile: debian }),
      'command',
      /^sshd could not be started with the new host keys: systemctl start ssh\.service exited 1$/,
    );
  });

  it("that error is what ProvisioningFailed reports: the sentence, the unit and systemd's words, in the health report and the KVP record", async () => {
    const a = systemd({ active: 3, failed: 0, enabled: 0, start: 1 });
    const error = await reloadSshd({ systemdMarker: a.marker, profile: rhel }).then(
      () => assert.fail('the start failed, reloadSshd must reject'),
      (e: unknown) => e as AgentError,
    );
    const health: HealthReport[] = [];
    const session = { wire: { reportHealth: async (r: HealthReport) => void health.push(r) } } as unknown as PlatformSession;
    const gs = { incarnation: '3', containerId: 'c', roleInstanceId: 'r' } as FullGoalState;
    const pool = join(tempRoot(), '.kvp_pool_1');
    await createReporter({ poolPath: pool, bootTime: new Date(0) }).failed(session, gs, error, 'VM-ID');
    const sentence = 'sshd could not be started with the new host keys: systemctl start sshd.service exited 1';
    assert.deepEqual(
      health.map((h) => [h.state, h.subStatus, h.description]),
      [['NotReady', 'ProvisioningFailed', `${sentence} [kind=command; unit=sshd.service; stderr=Job failed]`]],
    );
    const kvp = decodeRecords(readFileSync(pool));
    assert.equal(kvp.length, 1);
    assert.match(
      kvp[0]!.value,
      new RegExp(
        `^result=error\\|reason=${sentence.replace(/\./g, '\\.')}\\|agent=[^|]+\\|kind=command\\|unit=sshd\\.service\\|stderr=Job failed\\|pps_type=None\\|vm_id=VM-ID\\|`,
      ),
    );
  });

  it('Flatcar: sshd is socket-activated, nothing to reload', async () => {
    const a = systemd({ active: 0, failed: 1, enabled: 0, start: 0 });
    assert.equal(await reloadSshd({ systemdMarker: a.marker, profile: flatcar }), 'not-running');
    assert.deepEqual(a.tools.calls(), []);
  });
});
