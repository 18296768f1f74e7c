// Routes from our own DHCPDISCOVER and the DHCP client restart watch, for real in the sandbox's network namespace
// (docs/protocol.md §1.1, §7.1): a veth pair with both ends inside and addresses from 192.0.2.0/24 (docs/contract.md §7),
// the platform addresses blackholed in a routing table of their own so nothing could leave even by mistake.
// test/e2e/routes-script.ts does the agent's part in-process; this file sets the namespace up and reads `ip route`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';
import { withSandbox, type Sandbox } from '../sandbox/sandbox.ts';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'routes-script.ts');
const MAC = '02:00:00:c0:02:0a';

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.exec(['sh', '-ec', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout;
}

describe('DHCP routes in the sandbox (§1.1, §7.1)', () => {
  it('adds the gateway, classless and WireServer routes of the reply, and puts them back after a client restart', async () => {
    await withSandbox(async (sb) => {
      await sh(
        sb,
        [
          `ip link add wa0 address ${MAC} type veth peer name wa0peer`,
          'ip link set wa0peer up',
          'ip addr add 192.0.2.10/24 dev wa0',
          'ip link set wa0 up',
          'ip route add blackhole 168.63.129.16/32 table 100',
          'ip rule add to 168.63.129.16/32 table 100',
          'ip route add blackhole 169.254.0.0/16 table 100',
          'ip rule add to 169.254.0.0/16 table 100',
        ].join('\n'),
      );
      const r = await sb.exec([process.execPath, SCRIPT, MAC], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout) as Record<string, string> & {
        found: unknown;
        learned: unknown;
        firstPids: number[];
        secondPids: number[];
      };
      const ours = ['default via 192.0.2.1 dev wa0', '168.63.129.16 via 192.0.2.1 dev wa0', '198.51.100.0/24 via 192.0.2.254 dev wa0'];
      const has = (table: string, line: string) => table.split('\n').some((l) => l.trim().startsWith(line));

      assert.deepEqual(o.found, { endpoint: '168.63.129.16', source: 'dhcp' });
      assert.deepEqual(o.learned, {
        wireServer: '168.63.129.16',
        gateway: '192.0.2.1',
        routes: [{ network: '198.51.100.0', bits: 24, gateway: '192.0.2.254' }],
      });
      for (const line of ours) assert.equal(has(o.before!, line), false, `before: ${o.before}`);
      for (const line of ours) assert.ok(has(o.afterDiscovery!, line), `after discovery, missing "${line}":\n${o.afterDiscovery}`);
      for (const line of ours) assert.equal(has(o.flushed!, line), false, `flushed: ${o.flushed}`);
      for (const line of ours) assert.equal(has(o.samePid!, line), false, `the same client pid must not re-add routes:\n${o.samePid}`);
      assert.equal(o.firstPids.length, 1);
      assert.equal(o.secondPids.length, 1);
      assert.notEqual(o.firstPids[0], o.secondPids[0]);
      for (const line of ours) assert.ok(has(o.restored!, line), `after the restart, missing "${line}":\n${o.restored}`);
      // the platform address still goes nowhere: the blackhole rule is consulted before the main table
      const get = await sb.exec(['ip', 'route', 'get', '168.63.129.16']);
      assert.notEqual(get.code, 0, get.stdout);
      assert.doesNotMatch(get.stdout, /via 192\.0\.2\.1/);
      assert.match(await sh(sb, 'ip rule'), /to 168\.63\.129\.16 lookup 100/);
    });
  });
});
