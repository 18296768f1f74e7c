// Hostile download servers (issue 11, downloads): what the one HTTP place (src/fabric/http.ts) must keep whatever
// client library it is built on. A trickling body is cut at the attempt's time limit however steadily it drips
// (a TOTAL limit, not an idle one); a redirect is never followed (not to another host, not to another scheme, not
// once); a compressed body is never decoded, so the byte cap holds for what arrives and a gzip bomb stays small.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createHttpClient } from '../../../src/fabric/http.ts';
import { isAgentError } from '../../../src/util/errors.ts';

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const client = () => createHttpClient({ sleep: async () => {}, proxy: { configHost: null, configPort: null, env: {} } });

test('a body that trickles a byte every 20 ms is cut at the attempt time limit, not kept alive by each byte', async (t) => {
  const srv = await serve((_q, res) => {
    res.writeHead(200, { 'Content-Length': '100000' });
    const timer = setInterval(() => res.write('x'), 20);
    res.on('close', () => clearInterval(timer));
  });
  t.after(() => srv.close());
  const started = Date.now();
  const err = await client()
    .request({ url: `${srv.url}/pkg.zip`, timeoutMs: 400, maxAttempts: 2 })
    .catch((e: unknown) => e);
  const took = Date.now() - started;
  assert.ok(isAgentError(err, 'http'), String(err));
  assert.match(err.message, /no complete answer within 400 ms/);
  assert.equal(srv.hits.length, 2);
  assert.ok(took < 3000, `took ${took} ms`);
});

test('a redirect is not followed: not to another host, not to another scheme', async (t) => {
  const elsewhere = await serve((_q, res) => res.end('followed'));
  t.after(() => elsewhere.close());
  const srv = await serve((q, res) => {
    const to = q.url === '/file' ? 'file:///etc/shadow' : q.url === '/self' ? '/pkg.zip' : `${elsewhere.url}/pkg.zip`;
    res.writeHead(302, { Location: to });
    res.end();
  });
  t.after(() => srv.close());
  for (const path of ['/host', '/file', '/self']) {
    const err = await client()
      .request({ url: `${srv.url}${path}`, maxAttempts: 1 })
      .catch((e: unknown) => e);
    assert.ok(isAgentError(err, 'http'), `${path}: ${String(err)}`);
    assert.match(err.message, /302/, path);
  }
  assert.deepEqual(srv.hits, ['/host', '/file', '/self'], 'the redirecting server saw each request once');
  assert.deepEqual(elsewhere.hits, [], 'the redirect target was never asked');
});

test('a gzip bomb is never inflated: the body is the bytes that arrived, under the cap', async (t) => {
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
  const srv = await serve((_q, res) => {
    res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'text/xml', 'Content-Length': String(bomb.length) });
    res.end(bomb);
  });
  t.after(() => srv.close());
  const r = await client().request({ url: `${srv.url}/doc.xml`, maxBodyBytes: 1024 * 1024 });
  assert.equal(r.body.length, bomb.length);
  assert.ok(r.body.equals(bomb));
});
