// Fault injection: rules chosen by service, path regex and method, each applied `times` times (or forever), and
// the code that sends a reply through a fault (delay, reset, status, truncate, malformed, oversize, slow).
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Reply } from './http.ts';
import { FAULT_KINDS, SERVICES, type FaultKind, type FaultRule, type Service } from './types.ts';

/** Checks one rule from the CLI or the control API; throws a one-sentence error naming what is wrong. */
export function validateRule(x: unknown): FaultRule {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('a fault rule must be a JSON object');
  const r = x as Record<string, unknown>;
  const known = ['kind', 'service', 'path', 'method', 'times', 'ms', 'status', 'body', 'mib', 'bytes'];
  const extra = Object.keys(r).find((k) => !known.includes(k));
  if (extra) throw new Error(`unknown fault rule field "${extra}" (known: ${known.join(', ')})`);
  if (!FAULT_KINDS.includes(r.kind as FaultKind))
    throw new Error(`fault kind must be one of ${FAULT_KINDS.join(', ')}, not ${JSON.stringify(r.kind)}`);
  if (r.service !== undefined && !SERVICES.includes(r.service as Service)) {
    throw new Error(`fault service must be one of ${SERVICES.join(', ')}, not ${JSON.stringify(r.service)}`);
  }
  if (r.path !== undefined) {
    if (typeof r.path !== 'string') throw new Error('fault path must be a regular expression string');
    try {
      new RegExp(r.path);
    } catch {
      throw new Error(`fault path ${JSON.stringify(r.path)} is not a valid regular expression`);
    }
  }
  if (r.method !== undefined && typeof r.method !== 'string') throw new Error('fault method must be a string');
  if (r.body !== undefined && typeof r.body !== 'string') throw new Error('fault body must be a string');
  for (const k of ['times', 'ms', 'status', 'mib', 'bytes'] as const) {
    if (r[k] !== undefined && (!Number.isInteger(r[k]) || (r[k] as number) < 0))
      throw new Error(`fault ${k} must be a non-negative integer`);
  }
  if (r.kind === 'status' && (typeof r.status !== 'number' || r.status < 100 || r.status > 599)) {
    throw new Error('a status fault needs "status" between 100 and 599');
  }
  return r as unknown as FaultRule;
}

interface ActiveRule {
  rule: FaultRule;
  regex: RegExp | null;
  remaining: number;
}

export class FaultSet {
  #rules: ActiveRule[] = [];

  set(rules: FaultRule[]): void {
    this.#rules = [];
    for (const r of rules) this.add(r);
  }

  add(rule: FaultRule): void {
    const r = validateRule(rule);
    this.#rules.push({ rule: r, regex: r.path ? new RegExp(r.path) : null, remaining: r.times ?? Infinity });
  }

  list(): FaultRule[] {
    return this.#rules.map((a) => ({ ...a.rule, ...(Number.isFinite(a.remaining) ? { times: a.remaining } : {}) }));
  }

  /** The first rule matching the request, with one use taken off it; null when none. */
  take(service: Service, method: string, path: string): FaultRule | null {
    for (const a of this.#rules) {
      if (a.remaining <= 0) continue;
      if (a.rule.service && a.rule.service !== service) continue;
      if (a.rule.method && a.rule.method.toUpperCase() !== method.toUpperCase()) continue;
      if (a.regex && !a.regex.test(path)) continue;
      a.remaining--;
      return a.rule;
    }
    return null;
  }
}

const GARBAGE = Buffer.from('\u0000\u00ff<<<garbage{ "not": xml or [json ]]>&&\n', 'latin1');

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve();
    if (res.write(chunk)) resolve();
    else {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    }
  });
}

/** Sends a reply, through `fault` when given. Resolves with the status sent (0 when none was). */
export async function send(res: ServerResponse, r: Reply, fault: FaultRule | null): Promise<number> {
  let status = r.status;
  let headers = { ...(r.headers ?? {}) };
  let body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : (r.body ?? Buffer.alloc(0));
  switch (fault?.kind) {
    case 'delay':
      await sleep(fault.ms ?? 1000);
      break;
    case 'reset':
      res.socket?.resetAndDestroy();
      return 0;
    case 'status':
      status = fault.status!;
      body = Buffer.from(fault.body ?? '', 'utf8');
      headers = { 'Content-Type': 'text/plain; charset=utf-8' };
      break;
    case 'malformed':
      body = GARBAGE;
      break;
    case 'truncate': {
      res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
      // wait until the half is handed to the kernel, or destroy() would drop it with the headers
      await new Promise<void>((resolve) => res.write(body.subarray(0, Math.floor(body.length / 2)), () => resolve()));
      res.socket?.destroy();
      return status;
    }
    case 'oversize': {
      const total = (fault.mib ?? 16) * 1024 * 1024;
      res.writeHead(200, { ...headers, 'Content-Length': String(total) });
      const chunk = Buffer.alloc(64 * 1024, 'A');
      for (let sent = 0; sent < total && !res.destroyed; sent += chunk.length) {
        await write(res, chunk.subarray(0, Math.min(chunk.length, total - sent)));
      }
      res.end();
      return 200;
    }
    case 'slow': {
      res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
      const step = Math.max(1, fault.bytes ?? 1);
      for (let off = 0; off < body.length && !res.destroyed; off += step) {
        await write(res, body.subarray(off, off + step));
        await sleep(fault.ms ?? 50);
      }
      res.end();
      return status;
    }
    default:
      break;
  }
  if (res.destroyed) return 0;
  res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
  res.end(body);
  return status;
}
