// src/fabric/http1-socket.ts against a raw TCP server that writes exactly the bytes each case needs: the request on
// the wire, the three body framings (split at every byte), interim 1xx heads, and what a broken or hostile server
// sends (oversized or malformed heads, bodies cut short, conflicting framing), each a clear error.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { sendHttp1, type Http1Response } from '../../../src/fabric/http1-socket.ts';

interface Served {
  url: string;
  /** the request bytes each connection received before the server answered */
  requests: string[];
  close(): Promise<void>;
}

/** A server that waits for a complete request head (and `bodyBytes` more), then runs `answer` on the socket. */
async function serve(answer: (s: Socket) => unknown, bodyBytes = 0): Promise<Served> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0 || got.length < end + 4 + bodyBytes) return;
      s.off('data', onData);
      requests.push(got.toString('latin1'));
      void answer(s);
    };
    s.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Writes the bytes one at a time, so every parser state is crossed at a chunk boundary. */
async function trickle(s: Socket, bytes: string): Promise<void> {
  for (const b of Buffer.from(bytes, 'latin1')) {
    s.write(Buffer.of(b));
    await new Promise((r) => setImmediate(r));
  }
}

function get(url: string, init: Partial<{ method: string; headers: Record<string, string>; body: string; signal: AbortSignal }> = {}) {
  return sendHttp1({
    url: new URL(url),
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    body: init.body,
    signal: init.signal ?? new AbortController().signal,
  });
}

async function text(res: Http1Response): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of res.body) parts.push(c);
  return Buffer.concat(parts).toString('latin1');
}

test('the request on the wire: request line, the headers in order, Host, Connection: close once, then the body', async (t) => {
  const srv = await serve((s) => s.end('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'), 5);
  t.after(() => srv.close());
  const res = await get(`${srv.url}/machine?comp=health`, {
    method: 'PUT',
    headers: { 'x-ms-version': '2012-11-30', Connection: 'close', 'Content-Length': '5' },
    body: 'hello',
  });
  assert.equal(res.statusCode, 201);
  assert.equal(await text(res), '');
  const port = new URL(srv.url).port;
  assert.equal(
    srv.requests[0],
    `PUT /machine?comp=health HTTP/1.1\r\nx-ms-version: 2012-11-30\r\nContent-Length: 5\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\nhello`,
  );
});

test('a header value with CR/LF or a method that is no token is refused before anything is sent', async (t) => {
  const srv = await serve((s) => s.end('HTTP/1.1 200 OK\r\n\r\n'));
  t.after(() => srv.close());
  await assert.rejects(get(`${srv.url}/`, { headers: { 'x-a': 'v\r\nInjected: 1' } }), { code: 'ERR_INVALID_CHAR' });
  await assert.rejects(get(`${srv.url}/`, { method: 'GET /x' }), { code: 'ERR_INVALID_HTTP_TOKEN' });
  assert.equal(srv.requests.length, 0);
});

test('a chunked body with extensions and trailers, sent a byte at a time, after a 100 Continue', async (t) => {
  const srv = await serve((s) =>
    trickle(
      s,
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n' +
        '5;name=x\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: yes\r\n\r\n',
    ),
  );
  t.after(() => srv.close());
  const res = await get(`${srv.url}/`);
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(res.headers['x-two'], '1, 2');
  assert.equal(await text(res), 'hello 0123456789');
});

test('Content-Length ends the body without waiting for the close; no framing reads to the close', async (t) => {
  const fixed = await serve((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA')); // never closes
  const toClose = await serve((s) => trickle(s, 'HTTP/1.0 200 OK\r\n\r\nall of it').then(() => s.end()));
  t.after(() => Promise.all([fixed.close(), toClose.close()]));
  assert.equal(await text(await get(`${fixed.url}/`)), 'abc');
  assert.equal(await text(await get(`${toClose.url}/`)), 'all of it');
});

test('HEAD, 204 and 304 have no body whatever their headers say', async (t) => {
  const srv = await serve((s) => s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'));
  t.after(() => srv.close());
  assert.equal(await text(await get(`${srv.url}/`)), '');
  assert.equal(await text(await get(`${srv.url}/`, { method: 'HEAD' })), '');
});

test('a body cut short of its Content-Length or of its last chunk ends in an error, the bytes before it delivered', async (t) => {
  const short = await serve((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  const chunks = await serve((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'));
  t.after(() => Promise.all([short.close(), chunks.close()]));
  for (const srv of [short, chunks]) {
    const res = await get(`${srv.url}/`);
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of res.body) got.push(c.toString());
      })(),
      { message: 'aborted', code: 'ECONNRESET' },
    );
    assert.equal(got.join(''), 'abc');
  }
});

test('a connection closed before the head, a reset, and a refused connection are errors with their codes', async (t) => {
  const hangUp = await serve((s) => s.end('HTTP/1.1 200'));
  const reset = await serve((s) => s.resetAndDestroy());
  t.after(() => Promise.all([hangUp.close(), reset.close()]));
  await assert.rejects(get(`${hangUp.url}/`), { message: 'socket hang up', code: 'ECONNRESET' });
  await assert.rejects(get(`${reset.url}/`), { code: 'ECONNRESET' });
  await assert.rejects(get('http://127.0.0.1:9/'), { code: 'ECONNREFUSED' });
});

test('hostile heads: oversized, no status line, malformed header, two framings, bad sizes', async (t) => {
  const cases: [string, string][] = [
    [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
    [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}`, 'HPE_HEADER_OVERFLOW'],
    ['SSH-2.0-OpenSSH\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  ];
  for (const [answer, code] of cases) {
    const srv = await serve((s) => s.end(answer));
    t.after(() => srv.close());
    await assert.rejects(get(`${srv.url}/`), { code }, answer.slice(0, 60));
  }
  const badChunk = await serve((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  t.after(() => badChunk.close());
  const res = await get(`${badChunk.url}/`);
  await assert.rejects(text(res), { code: 'HPE_INVALID_CHUNK_SIZE' });
});

test('a large body read slowly arrives whole; an abort mid-body ends the read with its reason', async (t) => {
  const big = Buffer.alloc(6 * 1024 * 1024, 'z');
  const srv = await serve((s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
    s.end(big);
  });
  t.after(() => srv.close());
  const res = await get(`${srv.url}/`);
  let n = 0;
  for await (const c of res.body) {
    n += c.length;
    await new Promise((r) => setTimeout(r, 1)); // a reader slower than the socket: the socket is paused, nothing lost
  }
  assert.equal(n, big.length);

  const ac = new AbortController();
  const stalled = await serve((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
  t.after(() => stalled.close());
  const res2 = await get(`${stalled.url}/`, { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('no complete answer in time')), 20);
  await assert.rejects(text(res2), /no complete answer in time/);
});
