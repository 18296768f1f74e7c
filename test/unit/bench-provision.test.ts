// The provisioning benchmark's own pieces (bench/provision/): the ovf-env.xml both agents get, read back by our
// parser, and the figures it prints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOvfEnv } from '../../src/provisioning/ovf-env.ts';
import { benchOvfEnv, CERT_THUMBPRINT } from '../../bench/provision/ovf-env.ts';
import type { RunResult } from '../../bench/provision/measure.ts';
import { median, provisionTable } from '../../bench/provision/table.ts';

describe('bench ovf-env.xml', () => {
  it('carries the user, password, inline key, key by thumbprint, key pair and custom data', () => {
    const xml = benchOvfEnv({
      hostName: 'bench-vm',
      userName: 'azureuser',
      password: 'a<b&c"d>',
      publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench@host',
      customData: 'IyEvYmluL3NoCg==',
    });
    const env = parseOvfEnv(xml);
    assert.equal(env.hostname, 'bench-vm');
    assert.equal(env.username, 'azureuser');
    assert.equal(env.password, 'a<b&c"d>', 'the password survives XML escaping');
    assert.equal(env.disableSshPasswordAuthentication, false);
    assert.equal(env.provisionGuestAgent, true);
    assert.deepEqual(env.publicKeys, [
      {
        fingerprint: CERT_THUMBPRINT,
        path: '$HOME/azureuser/.ssh/authorized_keys',
        value: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench bench@host',
      },
      { fingerprint: CERT_THUMBPRINT, path: '$HOME/azureuser/.ssh/authorized_keys', value: null },
    ]);
    assert.deepEqual(env.keyPairs, [{ fingerprint: CERT_THUMBPRINT, path: '$HOME/azureuser/.ssh/id_rsa' }]);
    assert.equal(env.customData, 'IyEvYmluL3NoCg==');
  });
});

const run = (agent: RunResult['agent'], ms: number | null, rssKiB: number | null, anonKiB: number | null = null): RunResult => ({
  agent,
  ms,
  rssKiB,
  hwmKiB: rssKiB,
  anonKiB,
  outcome: ms === null ? 'no report: nothing within 1 s' : 'Ready',
});

describe('bench figures', () => {
  it('median of odd and even counts, and none', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]), /median of no values/);
  });

  it('prints medians, ranges and Python/ours ratios', () => {
    const table = provisionTable(
      new Map([
        [
          'ours',
          [run('ours', 1000, 100 * 1024, 40 * 1024), run('ours', 1200, 102 * 1024, 42 * 1024), run('ours', 900, 98 * 1024, 44 * 1024)],
        ],
        [
          'python',
          [
            run('python', 18000, 40 * 1024, 30 * 1024),
            run('python', 17000, 41 * 1024, 31 * 1024),
            run('python', 19000, 42 * 1024, 29 * 1024),
          ],
        ],
      ]),
    );
    const [head, ours, python] = table.split('\n');
    assert.match(head!, /Ready ms .* ×ours .* RSS MiB .* ×ours .* private MiB .* ×ours/);
    assert.match(ours!, /^dist\/waagent -provision\s+1000\s+900–1200\s+1\.00\s+100\.0\s+1\.00\s+42\.0\s+1\.00$/);
    assert.match(python!, /^Python waagent -daemon \(as packaged\)\s+18000\s+17000–19000\s+18\.00\s+41\.0\s+0\.41\s+30\.0\s+0\.71$/);
  });

  it('prints no ratio without our agent, and refuses an agent that never reported Ready', () => {
    const table = provisionTable(new Map([['python-stubbed', [run('python-stubbed', 3000, 40 * 1024)]]]));
    assert.match(table.split('\n')[1]!, /\(ifup stubbed\)\s+3000\s+3000–3000\s+-\s+40\.0\s+-\s+-\s+-$/);
    assert.throws(() => provisionTable(new Map([['ours', [run('ours', null, null)]]])), /no run of ours reported Ready/);
  });
});
