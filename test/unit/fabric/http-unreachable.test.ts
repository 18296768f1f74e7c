// §10 item 42: health reports stop retrying on "network is unreachable"; other requests keep retrying. Run in a
// network namespace of its own with no interface up, so a connection to a TEST-NET-1 address (RFC 5737) fails
// with ENETUNREACH without a packet leaving anywhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const SCRIPT = `
import { createHttpClient } from './src/fabric/http.ts';
const http = createHttpClient({ sleep: async () => {} });
const out = {};
for (const give of [true, false]) {
  try { await http.request({ url: 'http://192.0.2.1/machine?comp=health', method: 'POST', body: 'x', maxAttempts: 4, giveUpOnUnreachable: give }); }
  catch (e) { out[give] = e.message; }
}
console.log(JSON.stringify({ out, count: http.requestCount }));
await http.close();
`;

test('a health report gives up on ENETUNREACH after one attempt; other requests retry', () => {
  const r = spawnSync('unshare', ['--net', process.execPath, '--input-type=module', '-e', SCRIPT], {
    encoding: 'utf8',
    cwd: process.cwd(),
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const { out, count } = JSON.parse(r.stdout) as { out: Record<string, string>; count: number };
  assert.match(out.true!, /failed after 1 attempt: .*ENETUNREACH/);
  assert.match(out.false!, /failed after 4 attempts: .*ENETUNREACH/);
  assert.equal(count, 5);
});
