// The HTTP client of a platform session (src/fabric/session.ts): Debug.RetryDelayPercent scales every retry wait
// (docs/contract.md §4) and nothing else, and the daemon's stop signal ends the waits and the retries.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Config, parseConfig } from '../../../src/config/index.ts';
import { StopSignal } from '../../../src/daemon/stop-signal.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { createHttpClient } from '../../../src/fabric/http.ts';
import { sessionHttpOptions } from '../../../src/fabric/session.ts';

/** A server on 127.0.0.1 answering `status` to everything; counts the requests. */
async function answering(status: number): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = createServer((_q, res) => {
    hits++;
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/machine/?comp=goalstate`,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The waits a session client makes against a server that always answers `status`, on a fake clock. */
async function waitsOf(config: Config, status: number): Promise<{ sleeps: number[]; attempts: number }> {
  const srv = await answering(status);
  const sleeps: number[] = [];
  let clock = 0;
  const http = createHttpClient({
    ...sessionHttpOptions(config),
    sleep: async (ms) => void sleeps.push(ms),
    now: () => (clock += 1),
  });
  try {
    const err = await http.request({ url: srv.url }).catch((e: unknown) => e);
    assert.ok(isAgentError(err, 'http'));
    assert.equal(srv.hits(), err.context.attempts);
    return { sleeps, attempts: Number(err.context.attempts) };
  } finally {
    await http.close();
    await srv.close();
  }
}

test('by default the session client waits the protocol back-off (scale 1)', async () => {
  assert.equal(sessionHttpOptions(Config.defaults()).retryDelayScale, 1);
  assert.deepEqual(await waitsOf(Config.defaults(), 500), { sleeps: [500, 3000, 5000, 8000, 13_000], attempts: 6 });
});

test('Debug.RetryDelayPercent=10 makes every wait a tenth, back-off and throttle alike; the attempts stay the same', async () => {
  const config = parseConfig('Debug.RetryDelayPercent=10\n', '/etc/waagent.conf');
  assert.deepEqual(config.warnings, []);
  assert.equal(sessionHttpOptions(config).retryDelayScale, 0.1);
  assert.deepEqual(await waitsOf(config, 500), { sleeps: [50, 300, 500, 800, 1300], attempts: 6 });
  assert.deepEqual(await waitsOf(config, 503), { sleeps: Array(24).fill(100), attempts: 25 });
});

test('Debug.RetryDelayPercent outside 1–100 warns and keeps the real timing', () => {
  for (const bad of ['0', '101', '-5', 'fast']) {
    const config = parseConfig(`Debug.RetryDelayPercent=${bad}\n`, '/etc/waagent.conf');
    assert.equal(config.warnings.length, 1, bad);
    assert.match(config.warnings[0]!.message, /Debug\.RetryDelayPercent/);
    assert.equal(sessionHttpOptions(config).retryDelayScale, 1, bad);
  }
});

test("with the daemon's stop signal, a retry wait ends at SIGTERM and no attempt follows", async () => {
  const srv = await answering(500);
  const stop = new StopSignal();
  const http = createHttpClient(sessionHttpOptions(Config.defaults(), { stop }));
  try {
    const started = performance.now();
    const req = http.request({ url: srv.url }).catch((e: unknown) => e);
    // the first 500 comes back at once; the client then sits in the 2 s back-off until stopped
    while (srv.hits() === 0) await new Promise((r) => setTimeout(r, 5));
    stop.stop();
    const err = await req;
    assert.ok(isAgentError(err, 'http'));
    assert.match(err.message, /failed after 1 attempt: the agent is stopping \(last: HTTP status 500\)$/);
    assert.ok(performance.now() - started < 1500, 'the 2 s back-off was cut short');
    assert.equal(srv.hits(), 1);
  } finally {
    await http.close();
    await srv.close();
  }
});
