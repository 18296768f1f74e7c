// -setup-firewall in both spellings upstream has used (2.15's -setup-firewall=<IP>; the earlier -setup-firewall
// -dst_ip=<IP> -uid=<UID> [-w]): the built binary applies the daemon's rules in the sandbox's own network namespace,
// and the ExecStart of the waagent-network-setup.service that -register-service writes does the same at boot.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { networkSetupUnit } from '../../src/daemon/persist-firewall.ts';
import { createSandbox, WAAGENT, type Sandbox } from '../sandbox/sandbox.ts';

const RULES = (ip: string, uid: number) => [
  `-A OUTPUT -d ${ip}/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
  `-A OUTPUT -d ${ip}/32 -p tcp -m owner --uid-owner ${uid} -j ACCEPT`,
  `-A OUTPUT -d ${ip}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP`,
];

describe('waagent -setup-firewall (built binary, sandbox netns)', { timeout: 180_000 }, () => {
  let sb: Sandbox;
  let port: string;
  const rules = async (): Promise<string[]> => {
    const r = await sb.exec(['iptables', '-w', '-t', 'security', '-S', 'OUTPUT']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l.startsWith('-A'));
  };
  const flush = async () => assert.equal((await sb.exec(['iptables', '-w', '-t', 'security', '-F', 'OUTPUT'])).code, 0);
  const curl = (asNobody: boolean) =>
    sb.exec([
      ...(asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []),
      'curl',
      '-sS',
      '--max-time',
      '3',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${port}/?comp=versions`,
    ]);

  before(async () => {
    sb = await createSandbox();
    const emu = await sb.startEmulator();
    port = emu.wireServer.split(':')[1]!;
    sb.writeConfig();
  });
  after(() => sb?.close());

  test('2.15 spelling -setup-firewall=<IP>: the three rules for root; root reaches the WireServer, nobody cannot; a second run adds nothing', async () => {
    assert.equal((await curl(true)).stdout, '200', 'before the rules an unprivileged user reaches the WireServer');
    const r = await sb.exec([WAAGENT, '-setup-firewall=127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Successfully set the firewall rules for 127\.0\.0\.1 \(uid 0 allowed\)\n$/);
    assert.deepEqual(await rules(), RULES('127.0.0.1', 0));
    assert.equal((await curl(false)).stdout, '200');
    const nobody = await curl(true);
    assert.notEqual(nobody.stdout, '200', 'nobody still reaches the WireServer');
    assert.equal((await sb.exec([WAAGENT, '--setup-firewall=127.0.0.1'])).code, 0);
    assert.deepEqual(await rules(), RULES('127.0.0.1', 0), 'the rules are not added twice');
    assert.match(sb.readFile('/var/log/waagent.log'), /Setting up firewall after boot\. Endpoint: 127\.0\.0\.1/);
    await flush();
  });

  test('the earlier spelling -setup-firewall -dst_ip=<IP> -uid=<UID> -w: the named uid is the one allowed', async () => {
    const r = await sb.exec([WAAGENT, '-setup-firewall', '-dst_ip=127.0.0.1', '-uid=65534', '-w']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await rules(), RULES('127.0.0.1', 65534));
    assert.equal((await curl(true)).stdout, '200', 'the named uid reaches the WireServer');
    const root = await curl(false);
    assert.notEqual(root.stdout, '200', 'root is not the allowed uid here');
    await flush();
  });

  test('the ExecStart of waagent-network-setup.service applies the rules (what systemd runs at boot)', async () => {
    const unit = networkSetupUnit({ binary: WAAGENT, wireServer: '127.0.0.1', confPath: '/etc/waagent.conf' });
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    const r = await sb.exec(execStart);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await rules(), RULES('127.0.0.1', 0));
    await flush();
  });

  test('bad arguments: one sentence each, exit 2 for a malformed value, 1 (as upstream) when no address is given; no rule added', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [
        ['-setup-firewall=not-an-ip'],
        2,
        /^waagent: the option -setup-firewall=not-an-ip needs the WireServer's IPv4 address, as in -setup-firewall=168\.63\.129\.16\n/,
      ],
      [['-setup-firewall', '-dst_ip=300.1.1.1'], 2, /^waagent: the option -dst_ip=300\.1\.1\.1 needs the WireServer's IPv4 address/],
      [['-setup-firewall', '-dst_ip=127.0.0.1', '-uid=root'], 2, /^waagent: the option -uid=root needs a numeric user id, as in -uid=0\n/],
      [['-dst_ip=127.0.0.1'], 2, /^waagent: -dst_ip, -uid and -w go only with -setup-firewall\n/],
      [
        ['-setup-firewall'],
        1,
        /^waagent: Unable to add firewall rules: -setup-firewall needs the WireServer address \(-setup-firewall=<IP>, or -dst_ip=<IP>\)\n$/,
      ],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await sb.exec([WAAGENT, ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(await rules(), []);
  });
});
