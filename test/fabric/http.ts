// The small request/reply model the emulator's services share: a service turns a fully read request into a
// Reply, and the server (server.ts) sends it, possibly through a fault (faults.ts).
import type { IncomingHttpHeaders } from 'node:http';

export interface Request {
  method: string;
  /** path and query, as sent */
  path: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export function reply(status: number, body: Buffer | string = '', contentType?: string, headers: Record<string, string> = {}): Reply {
  return { status, body, headers: contentType ? { 'Content-Type': contentType, ...headers } : headers };
}

export const XML = 'text/xml; charset=utf-8';
export const JSON_TYPE = 'application/json; charset=utf-8';

export function notFound(what: string): Reply {
  return reply(404, `${what}\n`, 'text/plain; charset=utf-8');
}

export function badRequest(why: string): Reply {
  return reply(400, `${why}\n`, 'text/plain; charset=utf-8');
}

/** A request header as one string (first value when repeated). */
export function header(req: Request, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
