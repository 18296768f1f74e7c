// The HTTP layer against an in-process server on 127.0.0.1: retry schedule, throttling, 410 /
// InvalidContainerConfiguration, size cap, timeouts, deadline, headers, proxy selection and redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpClient, backoffDelay, type HttpClientOptions } from '../../../src/fabric/http.ts';
import { isAgentError } from '../../../src/util/errors.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

async function serve(handler: Handler): Promise<{ url: string; hits: IncomingMessage[]; server: Server; close(): Promise<void> }> {
  const hits: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    hits.push(req);
    handler(req, res, hits.length);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A client whose sleeps are recorded and advance a fake clock instead of waiting. */
function fakeClient(extra: HttpClientOptions = {}) {
  const sleeps: number[] = [];
  let clock = 1_000_000;
  const client = createHttpClient({
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    proxy: { configHost: null, configPort: null, env: {} },
    ...extra,
  });
  return { client, sleeps, advance: (ms: number) => (clock += ms), now: () => clock };
}

test('backoffDelay is the Fibonacci series 2, 3, 5, 8, 13 times the delay', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffDelay(n, 1000)),
    [2000, 3000, 5000, 8000, 13000],
  );
  assert.equal(backoffDelay(2, 15_000), 45_000);
});

test('a retryable status is tried 6 times (0.5 s, then the Fibonacci back-off), then a clear http error', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(500).end('boom'));
  t.after(() => srv.close());
  const { client, sleeps } = fakeClient();
  const err = await client.request({ url: `${srv.url}/machine/?comp=goalstate` }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.equal(err.context.status, 500);
  assert.equal(err.context.attempts, 6);
  assert.match(err.message, /failed after 6 attempts: HTTP status 500/);
  assert.equal(srv.hits.length, 6);
  assert.equal(client.requestCount, 6);
  assert.deepEqual(sleeps, [500, 3000, 5000, 8000, 13000]);
});

test('a throttle status switches to the fixed throttle delay and at least 25 attempts', async (t) => {
  const srv = await serve((_q, res, n) => res.writeHead(n === 1 ? 500 : 429).end());
  t.after(() => srv.close());
  const { client, sleeps } = fakeClient();
  const err = await client.request({ url: srv.url + '/x' }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.equal(srv.hits.length, 25);
  assert.equal(err.context.status, 429);
  // first retry after the 500 uses the back-off (0.5 s), every one after the 429s the throttle delay
  assert.deepEqual(sleeps, [500, ...Array(23).fill(1000)]);
});

test('throttling does not raise the attempt cap when the caller says so (telemetry)', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(503).end());
  t.after(() => srv.close());
  const { client } = fakeClient();
  await assert.rejects(client.request({ url: srv.url, maxAttempts: 3, throttleRaisesAttempts: false }), /after 3 attempts/);
  assert.equal(srv.hits.length, 3);
});

test('a retryable status followed by 200 returns the body and the attempt count', async (t) => {
  const srv = await serve((_q, res, n) => (n < 3 ? res.writeHead(503).end() : res.writeHead(200).end('<ok/>')));
  t.after(() => srv.close());
  const { client } = fakeClient();
  const res = await client.request({ url: srv.url });
  assert.equal(res.text(), '<ok/>');
  assert.equal(res.attempts, 3);
});

test('201 and 202 are success too; a non-retryable status fails after one attempt', async (t) => {
  const srv = await serve((q, res) => res.writeHead(Number(q.url!.slice(1))).end());
  t.after(() => srv.close());
  const { client } = fakeClient();
  assert.equal((await client.request({ url: srv.url + '/201', method: 'PUT', body: 'x' })).status, 201);
  assert.equal((await client.request({ url: srv.url + '/202', method: 'POST', body: 'x' })).status, 202);
  const err = await client.request({ url: srv.url + '/404' }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.equal(err.context.attempts, 1);
  assert.equal(err.context.status, 404);
});

test('acceptStatuses hands the listed statuses back instead of throwing', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(304, { ETag: '"e1"' }).end());
  t.after(() => srv.close());
  const { client } = fakeClient();
  const res = await client.request({ url: srv.url, acceptStatuses: [304, 404] });
  assert.equal(res.status, 304);
  assert.equal(res.headers.etag, '"e1"');
});

test('410 and 400 InvalidContainerConfiguration are resource-gone at once; another 400 is a plain failure', async (t) => {
  const srv = await serve((q, res) => {
    if (q.url === '/gone') res.writeHead(410).end();
    else if (q.url === '/invalid') res.writeHead(400).end('<Error><Code>InvalidContainerConfiguration</Code></Error>');
    else res.writeHead(400).end('bad request');
  });
  t.after(() => srv.close());
  const { client } = fakeClient();
  for (const path of ['/gone', '/invalid']) {
    const err = await client.request({ url: srv.url + path }).catch((e: unknown) => e);
    assert.ok(isAgentError(err, 'resource-gone'), path);
    assert.equal(err.context.attempts, 1);
  }
  const err = await client.request({ url: srv.url + '/other' }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.equal(srv.hits.length, 3);
});

test('extraRetryStatuses retries 400 (HostGAPlugin /extensionArtifact)', async (t) => {
  const srv = await serve((_q, res, n) => (n === 1 ? res.writeHead(400).end('cache') : res.writeHead(200).end('zip')));
  t.after(() => srv.close());
  const { client } = fakeClient();
  const res = await client.request({ url: srv.url, extraRetryStatuses: [400] });
  assert.equal(res.text(), 'zip');
  assert.equal(srv.hits.length, 2);
});

test('a body larger than the cap is refused, declared or streamed, and not retried', async (t) => {
  const big = Buffer.alloc(64 * 1024, 'A');
  const srv = await serve((q, res) => {
    if (q.url === '/declared') {
      res.writeHead(200, { 'Content-Length': String(1 << 30) });
      res.write(big);
      return; // never finishes: the client must not wait for the rest
    }
    res.writeHead(200); // chunked, no length
    let sent = 0;
    const pump = (): void => {
      while (sent < 8) {
        sent++;
        if (!res.write(big)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.after(() => srv.close());
  const { client } = fakeClient();
  for (const path of ['/declared', '/chunked']) {
    const err = await client.request({ url: srv.url + path, maxBodyBytes: 100_000 }).catch((e: unknown) => e);
    assert.ok(isAgentError(err, 'http'), path);
    assert.match(err.message, /larger than the 100000-byte limit/);
    assert.equal(err.context.attempts, 1);
  }
  assert.equal(srv.hits.length, 2);
  // within the cap is fine
  const ok = await client.request({ url: srv.url + '/chunked', maxBodyBytes: 8 * big.length });
  assert.equal(ok.body.length, 8 * big.length);
});

test('an endpoint that never answers times out per attempt and is retried', async (t) => {
  const srv = await serve(() => {
    /* never answer */
  });
  t.after(() => srv.close());
  const { client, sleeps } = fakeClient();
  const started = Date.now();
  const err = await client.request({ url: srv.url, timeoutMs: 150, maxAttempts: 2 }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.match(err.message, /failed after 2 attempts: no complete answer within 150 ms/);
  assert.equal(srv.hits.length, 2);
  assert.deepEqual(sleeps, [500]);
  assert.ok(Date.now() - started < 3000);
});

test('a reset connection and a truncated body are IO errors and are retried', async (t) => {
  const srv = await serve((_q, res, n) => {
    if (n === 1) res.socket!.resetAndDestroy();
    else if (n === 2) {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('half', () => res.socket!.destroy());
    } else res.writeHead(200).end('whole');
  });
  t.after(() => srv.close());
  const { client } = fakeClient();
  const res = await client.request({ url: srv.url });
  assert.equal(res.text(), 'whole');
  assert.equal(res.attempts, 3);
});

test('a connection refused is retried and reported with the attempt count', async () => {
  const srv = await serve(() => undefined);
  const url = srv.url;
  await srv.close();
  const { client } = fakeClient();
  const err = await client.request({ url, maxAttempts: 2 }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.equal(err.context.attempts, 2);
  assert.match(err.message, /ECONNREFUSED/);
});

test('the overall deadline stops the retries early', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(500).end());
  t.after(() => srv.close());
  const { client, sleeps, now } = fakeClient();
  const err = await client.request({ url: srv.url, deadline: now() + 6_000 }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  // 0.5 s then 3 s fit in 6 s; the next 5 s wait would pass the deadline
  assert.deepEqual(sleeps, [500, 3000]);
  assert.equal(srv.hits.length, 3);
});

test('cancelled (the daemon stopping) ends the retries before the next attempt, and none starts after', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(500).end());
  t.after(() => srv.close());
  let stopped = false;
  const { client, sleeps } = fakeClient({ cancelled: () => stopped });
  const req = client.request({ url: srv.url });
  // stop during the first back-off wait: the fake sleep returns, and no second attempt is made
  stopped = true;
  const err = await req.catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.match(err.message, /failed after 1 attempt: the agent is stopping \(last: HTTP status 500\)$/);
  assert.deepEqual(sleeps, [500]);
  assert.equal(srv.hits.length, 1);
  const after = await client.request({ url: srv.url }).catch((e: unknown) => e);
  assert.ok(isAgentError(after, 'http'));
  assert.match(after.message, /failed after 0 attempts: the agent is stopping$/);
  assert.equal(srv.hits.length, 1);
});

test('every request carries Connection: close and the WALinuxAgent User-Agent', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(200).end());
  t.after(() => srv.close());
  const { client } = fakeClient();
  await client.request({ url: srv.url, headers: { 'x-ms-version': '2012-11-30' } });
  const h = srv.hits[0]!.headers;
  assert.equal(h.connection, 'close');
  assert.match(h['user-agent']!, /^WALinuxAgent\/\d+\.\d+\.\d+\.\d+$/);
  assert.equal(h['x-ms-version'], '2012-11-30');
});

test('SAS tokens never appear in the error message or context', async (t) => {
  const srv = await serve((_q, res) => res.writeHead(404).end());
  t.after(() => srv.close());
  const { client } = fakeClient();
  const err = await client.request({ url: `${srv.url}/status?sv=2020&sig=SECRETSIG&se=2030`, target: 'external' }).catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.doesNotMatch(err.message, /SECRETSIG/);
  assert.doesNotMatch(String(err.context.url), /SECRETSIG/);
  assert.match(err.message, /sig=\*\*\*REDACTED\*\*\*/);
});

test('bad URLs are refused with one sentence', async () => {
  const { client } = fakeClient();
  await assert.rejects(client.request({ url: 'not a url' }), /the URL not a url is not valid/);
  await assert.rejects(client.request({ url: 'ftp://x/y' }), /is not http or https/);
});

test('external requests go through the proxy; platform requests and no_proxy hosts never do', async (t) => {
  // A forwarding proxy receives the absolute-form target; answer it ourselves.
  const proxy = await serve((q, res) => res.writeHead(200).end('via-proxy ' + q.url));
  const origin = await serve((_q, res) => res.writeHead(200).end('direct'));
  t.after(async () => {
    await proxy.close();
    await origin.close();
  });
  const env = { http_proxy: proxy.url, no_proxy: '10.0.0.0/8,.example.com' };
  const { client } = fakeClient({ proxy: { configHost: null, configPort: null, env } });
  const viaProxy = await client.request({ url: origin.url + '/blob', target: 'external' });
  assert.equal(viaProxy.text(), `via-proxy ${origin.url}/blob`);
  const platform = await client.request({ url: origin.url + '/machine', target: 'platform' });
  assert.equal(platform.text(), 'direct');
  const { client: c2 } = fakeClient({ proxy: { configHost: null, configPort: null, env: { ...env, no_proxy: '127.0.0.0/8' } } });
  assert.equal((await c2.request({ url: origin.url + '/blob', target: 'external' })).text(), 'direct');
  // HttpProxy.Host/Port win over the environment
  const port = Number(new URL(proxy.url).port);
  const { client: c3 } = fakeClient({ proxy: { configHost: '127.0.0.1', configPort: port, env: { http_proxy: 'http://127.0.0.1:1' } } });
  assert.match((await c3.request({ url: origin.url + '/b', target: 'external' })).text(), /^via-proxy /);
  assert.equal(proxy.hits.length, 2);
  assert.equal(origin.hits.length, 2);
  await Promise.all([client.close(), c2.close(), c3.close()]);
});

test('through a plain HTTP proxy: the origin in Host, the proxy credentials in Proxy-Authorization, the body sized', async (t) => {
  const proxy = await serve((_q, res) => res.writeHead(201).end());
  t.after(() => proxy.close());
  const port = new URL(proxy.url).port;
  const env = { http_proxy: `http://us%40er:p%3Ass@127.0.0.1:${port}` };
  const { client } = fakeClient({ proxy: { configHost: null, configPort: null, env } });
  await client.request({ method: 'PUT', url: 'http://storage.example:8080/c/status?sig=x', target: 'external', body: 'héllo' });
  await client.request({ method: 'PUT', url: 'http://storage.example/c/empty', target: 'external' });
  const [put, empty] = proxy.hits;
  assert.equal(put!.url, 'http://storage.example:8080/c/status?sig=x');
  assert.equal(put!.headers.host, 'storage.example:8080');
  assert.equal(put!.headers['proxy-authorization'], `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  assert.equal(put!.headers.authorization, undefined);
  assert.equal(put!.headers['content-length'], String(Buffer.byteLength('héllo')));
  assert.equal(put!.headers['transfer-encoding'], undefined);
  assert.equal(put!.headers.connection, 'close');
  assert.equal(empty!.headers['content-length'], '0');
  await client.close();
});

test('no_proxy matching: *, hosts, domain suffixes on a label boundary, IPs and CIDRs', async () => {
  const { bypassesProxy, inCidr, proxyFor } = await import('../../../src/fabric/proxy.ts');
  assert.equal(bypassesProxy('anything', '*'), true);
  assert.equal(bypassesProxy('a.blob.core.windows.net', 'core.windows.net'), true);
  assert.equal(bypassesProxy('a.blob.core.windows.net', '.core.windows.net'), true);
  assert.equal(bypassesProxy('a.blob.core.windows.net', '*.windows.net'), true);
  assert.equal(bypassesProxy('badwindows.net', 'windows.net'), false);
  assert.equal(bypassesProxy('10.1.2.3', '10.0.0.0/8'), true);
  assert.equal(bypassesProxy('11.1.2.3', '10.0.0.0/8'), false);
  assert.equal(bypassesProxy('192.168.1.5', 'x.com, 192.168.1.5'), true);
  assert.equal(bypassesProxy('192.168.1.6', '192.168.1.5'), false);
  assert.equal(bypassesProxy('host.example', ''), false);
  assert.equal(inCidr('1.2.3.4', '0.0.0.0/0'), true);
  assert.equal(inCidr('1.2.3.4', '1.2.3.4/32'), true);
  assert.equal(inCidr('1.2.3.5', '1.2.3.4/32'), false);
  assert.equal(inCidr('1.2.3.4', '1.2.3.0/33'), false);
  const env = { HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://p2:8080' };
  assert.equal(
    proxyFor(new URL('https://x.blob.core.windows.net/'), { configHost: null, configPort: null, env }),
    'http://proxy.corp:3128',
  );
  assert.equal(proxyFor(new URL('http://x/'), { configHost: null, configPort: null, env }), 'http://p2:8080');
  assert.equal(proxyFor(new URL('http://x/'), { configHost: 'cfg', configPort: 3129, env }), 'http://cfg:3129');
  assert.equal(proxyFor(new URL('http://x/'), { configHost: 'cfg', configPort: null, env: {} }), null);
  assert.throws(
    () => proxyFor(new URL('http://x/'), { configHost: null, configPort: null, env: { http_proxy: 'ftp://p:1' } }),
    /the proxy in http_proxy is not a valid http\(s\) URL/,
  );
});
