// HTTP/1.1 over a plain TCP socket for http-wire.ts's direct http:// requests (every platform request, storage without
// a proxy): the request written in one piece with `Connection: close`, the response head parsed here, the body
// framed by Content-Length, chunked transfer coding or the end of the connection. node:http did the same with a
// ClientRequest, an agent, an IncomingMessage and the stream machinery around them: about half of the idle daemon's
// JavaScript time per goal-state cycle (two requests) went there (issue 14, bench/README.md). The wire carries the
// headers node:http wrote: the caller's in order, then Host (unless given) and Connection: close.
import { connect, type Socket } from 'node:net';

/** The largest response head accepted (node:http's default, --max-http-header-size). */
const MAX_HEAD = 16 * 1024;
/** Received body bytes held for a slow reader before the socket is paused. */
const HIGH_WATER = 1024 * 1024;
/** A chunk-size line (hex size and extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_TARGET = /[^\x21-\x7e]/;

export interface Http1Request {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  signal: AbortSignal;
}

export interface Http1Response {
  statusCode: number;
  /** names in lower case; a repeated header joined with ", " (Set-Cookie kept as a list), as node:http gives them */
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer>;
}

/** An error of the exchange, with the code node:http gives the same failure where it has one. */
function wireError(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** The request's bytes: request line, the caller's headers, Host, Connection: close, then the body. */
function requestBytes(req: Http1Request): Buffer {
  const target = req.url.pathname + req.url.search;
  if (!TOKEN.test(req.method)) throw wireError(`the method "${req.method}" is not an HTTP token`, 'ERR_INVALID_HTTP_TOKEN');
  if (BAD_TARGET.test(target)) throw wireError('the request path contains unescaped characters', 'ERR_UNESCAPED_CHARACTERS');
  let head = `${req.method} ${target} HTTP/1.1\r\n`;
  let host = true;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!TOKEN.test(name)) throw wireError(`the header name "${name}" is not an HTTP token`, 'ERR_INVALID_HTTP_TOKEN');
    if (BAD_VALUE.test(value)) throw wireError(`the value of the header ${name} contains a control character`, 'ERR_INVALID_CHAR');
    const lower = name.toLowerCase();
    if (lower === 'connection') continue; // always close: written last
    if (lower === 'host') host = false;
    head += `${name}: ${value}\r\n`;
  }
  if (host) head += `Host: ${req.url.host}\r\n`;
  head += 'Connection: close\r\n\r\n';
  if (req.body === undefined) return Buffer.from(head, 'latin1');
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof req.body === 'string' ? Buffer.from(req.body) : req.body]);
}

interface Head {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** Parses a response head (without its blank line): the status and the headers. */
function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw wireError('the response does not start with an HTTP/1.x status line', 'HPE_INVALID_CONSTANT');
  const headers: Record<string, string | string[] | undefined> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !TOKEN.test(name)) throw wireError('the response has a malformed header line', 'HPE_INVALID_HEADER_TOKEN');
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    if (had === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(had)) had.push(value);
    else if (name === 'content-length' && had !== value)
      throw wireError('the response has two different Content-Length headers', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    else if (name !== 'content-length') headers[name] = `${had}, ${value}`;
  }
  return { status: Number(m[1]), headers };
}

/** The body as it arrives: chunks queued for one async reader, the socket paused while the reader lags. */
class BodyQueue implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private done = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;

  private readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  push(chunk: Buffer): void {
    if (this.done || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes > HIGH_WATER) this.socket.pause();
    this.notify();
  }

  end(): void {
    this.done = true;
    this.notify();
  }

  fail(e: unknown): void {
    if (this.done) return;
    this.failure = e;
    this.done = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (chunk) {
          this.bytes -= chunk.length;
          if (this.bytes <= HIGH_WATER && this.socket.isPaused()) this.socket.resume();
          yield chunk;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.done) return;
        await new Promise<void>((r) => {
          this.wake = r;
        });
      }
    } finally {
      this.socket.destroy(); // the reader stopped (done, failed or gave up): the connection is not reused
    }
  }
}

/** Sends the request on a new connection; resolves on the response head, the body following through the iterator. */
export function sendHttp1(req: Http1Request): Promise<Http1Response> {
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) return reject(req.signal.reason);
    let bytes: Buffer;
    try {
      bytes = requestBytes(req);
    } catch (e) {
      return reject(e);
    }
    const port = Number(req.url.port || 80);
    const socket = connect({ host: req.url.hostname.replace(/^\[(.*)\]$/, '$1'), port });
    const body = new BodyQueue(socket);
    let head: Buffer | null = Buffer.alloc(0); // null once the final head is parsed
    let settled = false;
    const fail = (e: unknown): void => {
      if (!settled) {
        settled = true;
        reject(e);
      } else body.fail(e);
      socket.destroy();
    };
    const onAbort = (): void => fail(req.signal.reason);
    req.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => req.signal.removeEventListener('abort', onAbort));

    // body framing, chosen from the head
    let framing: 'none' | 'length' | 'chunked' | 'close' = 'close';
    let remaining = 0; // 'length': body bytes still due; 'chunked': data bytes left in the current chunk
    let chunkState: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
    let line = '';

    const finish = (): void => {
      body.end();
      socket.destroy();
    };

    /** Chunked transfer coding (RFC 9112 §7.1): size lines, data, CRLFs, trailers ignored. */
    const chunked = (buf: Buffer): void => {
      let i = 0;
      while (i < buf.length) {
        if (chunkState === 'data') {
          const n = Math.min(remaining, buf.length - i);
          body.push(buf.subarray(i, i + n));
          i += n;
          remaining -= n;
          if (remaining === 0) chunkState = 'data-crlf';
          continue;
        }
        const nl = buf.indexOf(10, i);
        const end = nl < 0 ? buf.length : nl + 1;
        line += buf.toString('latin1', i, end);
        i = end;
        if (line.length > MAX_CHUNK_LINE) {
          fail(wireError('a chunk-size line of the response is too long', 'HPE_CHUNK_EXTENSIONS_OVERFLOW'));
          return;
        }
        if (nl < 0) return;
        const text = line.replace(/\r?\n$/, '');
        line = '';
        if (chunkState === 'data-crlf') {
          if (text !== '') {
            fail(wireError('a chunk of the response is longer than its size', 'HPE_INVALID_CHUNK_SIZE'));
            return;
          }
          chunkState = 'size';
        } else if (chunkState === 'size') {
          const m = /^([0-9A-Fa-f]{1,15})[ \t]*(;.*)?$/.exec(text);
          if (!m) {
            fail(wireError('the response has a malformed chunk size', 'HPE_INVALID_CHUNK_SIZE'));
            return;
          }
          remaining = Number.parseInt(m[1]!, 16);
          chunkState = remaining === 0 ? 'trailer' : 'data';
        } else if (text === '') {
          finish(); // the blank line after the last chunk's trailers
          return;
        }
      }
    };

    const onBody = (buf: Buffer): void => {
      if (framing === 'chunked') {
        chunked(buf);
        return;
      }
      if (framing === 'length') {
        const n = Math.min(remaining, buf.length);
        body.push(buf.subarray(0, n));
        remaining -= n;
        if (remaining === 0) finish();
        return;
      }
      if (framing === 'close') body.push(buf);
    };

    socket.on('data', (data: Buffer) => {
      if (head === null) return onBody(data);
      let buf: Buffer = head.length ? Buffer.concat([head, data]) : data;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEAD) return fail(wireError('the response head is larger than 16 KiB', 'HPE_HEADER_OVERFLOW'));
          head = buf;
          return;
        }
        if (end > MAX_HEAD) return fail(wireError('the response head is larger than 16 KiB', 'HPE_HEADER_OVERFLOW'));
        let parsed: Head;
        try {
          parsed = parseHead(buf.toString('latin1', 0, end));
        } catch (e) {
          return fail(e);
        }
        buf = buf.subarray(end + 4);
        if (parsed.status >= 100 && parsed.status < 200) continue; // 100 Continue, 103 Early Hints: another head follows
        head = null;
        const te = String(parsed.headers['transfer-encoding'] ?? '').toLowerCase();
        const cl = parsed.headers['content-length'];
        if (req.method === 'HEAD' || parsed.status === 204 || parsed.status === 304) framing = 'none';
        else if (te) {
          if (cl !== undefined)
            return fail(wireError('the response has both Transfer-Encoding and Content-Length', 'HPE_UNEXPECTED_CONTENT_LENGTH'));
          framing = /(^|,)\s*chunked\s*$/.test(te) ? 'chunked' : 'close';
        } else if (cl !== undefined) {
          if (!/^\d{1,15}$/.test(String(cl)))
            return fail(wireError('the response has a malformed Content-Length', 'HPE_INVALID_CONTENT_LENGTH'));
          remaining = Number(cl);
          framing = remaining === 0 ? 'none' : 'length';
        }
        settled = true;
        resolve({ statusCode: parsed.status, headers: parsed.headers, body });
        if (framing === 'none') return finish();
        if (buf.length) onBody(buf);
        return;
      }
    });
    socket.on('error', fail);
    socket.on('end', () => {
      if (!settled) return fail(wireError('socket hang up', 'ECONNRESET'));
      // node:http calls a body cut short of its framing "aborted"; http.ts names it a truncated body
      if (framing === 'close') return finish();
      fail(wireError('aborted', 'ECONNRESET'));
    });
    socket.on('close', () => {
      if (!settled) fail(wireError('socket hang up', 'ECONNRESET'));
      else body.fail(wireError('aborted', 'ECONNRESET'));
    });
    socket.write(bytes);
  });
}
