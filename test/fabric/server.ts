// Starts the emulator: one HTTP server per service on the loopback addresses it is given, every request recorded
// and possibly faulted, plus the control API on a unix socket.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { blobService } from './blob.ts';
import { controlApi } from './control.ts';
import { send } from './faults.ts';
import { hostPlugin } from './hostplugin.ts';
import type { Reply, Request } from './http.ts';
import { imds } from './imds.ts';
import { FabricState, type StateOptions } from './state.ts';
import { BODY_CAP, type EmulatorPorts, type Service } from './types.ts';
import { wireServer } from './wireserver.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface FabricOptions extends Omit<StateOptions, 'rewrite'> {
  wireServer?: Endpoint;
  hostPlugin?: Endpoint;
  imds?: Endpoint;
  blob?: Endpoint;
  /** --rewrite-address HOST[:PORT]; the port defaults to the WireServer's */
  rewrite?: { host: string; port?: number };
  controlSocket?: string;
  portFile?: string;
  allowAnyAddress?: boolean;
}

export const DEFAULT_ENDPOINTS: Record<Service, Endpoint> = {
  wireserver: { host: '127.0.0.1', port: 8080 },
  hostplugin: { host: '127.0.0.1', port: 32526 },
  imds: { host: '127.0.0.1', port: 8081 },
  blob: { host: '127.0.0.1', port: 8082 },
};

export interface Fabric {
  state: FabricState;
  ports: EmulatorPorts;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

type Handler = (state: FabricState, req: Request) => Reply | Promise<Reply>;
const HANDLERS: Record<Service, Handler> = { wireserver: wireServer, hostplugin: hostPlugin, imds, blob: blobService };

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

async function handle(state: FabricState, service: Service, port: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const fault = state.faults.take(service, method, path);
  let r: Reply;
  try {
    const url = new URL(path, `http://${req.headers.host ?? 'localhost'}`);
    r = await HANDLERS[service](state, { method, path, url, headers: req.headers, body });
  } catch (e) {
    r = { status: 500, body: `emulator error: ${(e as Error).message}\n`, headers: { 'Content-Type': 'text/plain' } };
  }
  const status = await send(res, r, fault).catch(() => 0);
  state.record({
    time: new Date().toISOString(),
    service,
    port,
    method,
    path,
    headers: flatHeaders(req),
    body: body.toString('utf8').slice(0, BODY_CAP),
    bodyBytes: body.length,
    status,
    ...(fault ? { fault: fault.kind } : {}),
  });
}

function listen(server: Server, ep: Endpoint): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${ep.host}:${ep.port}: ${e.code ?? e.message}`)));
    server.listen(ep.port, ep.host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : ep.port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Starts every service; throws (one sentence) on a non-loopback address without allowAnyAddress, or a bind failure. */
export async function startFabric(options: FabricOptions = {}): Promise<Fabric> {
  const endpoints: Record<Service, Endpoint> = {
    wireserver: options.wireServer ?? DEFAULT_ENDPOINTS.wireserver,
    hostplugin: options.hostPlugin ?? DEFAULT_ENDPOINTS.hostplugin,
    imds: options.imds ?? DEFAULT_ENDPOINTS.imds,
    blob: options.blob ?? DEFAULT_ENDPOINTS.blob,
  };
  for (const [service, ep] of Object.entries(endpoints)) {
    if (!options.allowAnyAddress && !isLoopback(ep.host)) {
      throw new Error(`refusing to listen on non-loopback address ${ep.host} for ${service} (use --allow-any-address)`);
    }
  }
  const { rewrite, ...stateOptions } = options;
  const state = new FabricState(stateOptions);
  const servers: Server[] = [];
  const closeAll = () => Promise.all(servers.map(closeServer)).then(() => undefined);
  try {
    const ports: Partial<Record<Service, number>> = {};
    for (const service of Object.keys(endpoints) as Service[]) {
      const server = createServer({ keepAlive: false });
      servers.push(server);
      ports[service] = await listen(server, endpoints[service]);
      const port = ports[service]!;
      server.on('request', (req, res) => void handle(state, service, port, req, res));
    }
    state.ports = { wireServer: ports.wireserver!, hostPlugin: ports.hostplugin!, imds: ports.imds!, blob: ports.blob! };
    if (rewrite) state.options.rewrite = { host: rewrite.host, port: rewrite.port ?? state.ports.wireServer };
    if (options.controlSocket) {
      rmSync(options.controlSocket, { force: true });
      const control = createServer((req, res) => void controlApi(state, req, res));
      servers.push(control);
      await new Promise<void>((resolve, reject) => {
        control.once('error', (e) => reject(new Error(`cannot listen on control socket ${options.controlSocket}: ${e.message}`)));
        control.listen(options.controlSocket, resolve);
      });
    }
    if (options.portFile) {
      // written last and renamed into place: its appearance tells a waiting harness that everything listens
      writeFileSync(`${options.portFile}.tmp`, JSON.stringify(state.ports) + '\n');
      renameSync(`${options.portFile}.tmp`, options.portFile);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return {
    state,
    ports: state.ports,
    close: async () => {
      await closeAll();
      if (options.controlSocket) rmSync(options.controlSocket, { force: true });
    },
  };
}
