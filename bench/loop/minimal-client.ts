// The minimal client of bench/extensions.ts (issue 14): the least a goal-state loop can do, as the yardstick for the
// agent's CPU per cycle. Every period: GET the goal state from the WireServer (node:http, Connection: close), parse it
// with the agent's XML layer (parseGoalState), build the status JSON with the agent's builder (buildAggregateStatus,
// one Ready handler entry per handler of the ExtensionsConfig, fetched again only when the incarnation changes) and
// PUT it through the HostGAPlugin's /status as the agent does. No retries, no logging, no extension commands, no
// status files: what it leaves out is what the agent costs beyond it. Bundled by esbuild as the loop driver is and run
// under the same Node, inside the benchmark's sandbox.
//   node minimal-client.cjs WIRESERVER HOSTPLUGIN PERIOD_MS      (addresses host:port)
import { request } from 'node:http';
import { hostname } from 'node:os';
import { parseExtensionsConfig, parseGoalState } from '../../src/fabric/documents/index.ts';
import { buildAggregateStatus, formatAggregateStatus } from '../../src/status/aggregate.ts';
import { blockBlobHeaders } from '../../src/status/page-blob.ts';
import type { HandlerStatus } from '../../src/status/types.ts';
import { COMPAT_AGENT_VERSION, USER_AGENT } from '../../src/util/version.ts';

function send(url: string, method: 'GET' | 'PUT', headers: Record<string, string>, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = { 'User-Agent': USER_AGENT, ...headers, Connection: 'close' };
    if (body !== undefined) all['Content-Length'] = String(Buffer.byteLength(body));
    const req = request(url, { method, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        (res.statusCode ?? 0) < 300
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(new Error(`${method} ${url}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const [wire, hgap, periodArg] = process.argv.slice(2);
  const periodMs = Number(periodArg);
  if (!wire || !hgap || !(periodMs >= 0)) throw new Error('usage: minimal-client.cjs WIRESERVER HOSTPLUGIN PERIOD_MS');
  const wireHeaders = { 'x-ms-version': '2012-11-30' };
  let incarnation = '';
  let blobUrl = '';
  let handlers: HandlerStatus[] = [];
  let containerId = '';
  let configName = '';
  for (;;) {
    const started = Date.now();
    try {
      const gs = parseGoalState(await send(`http://${wire}/machine/?comp=goalstate`, 'GET', wireHeaders));
      if (gs.incarnation !== incarnation && gs.extensionsConfigUrl) {
        const ec = parseExtensionsConfig(await send(gs.extensionsConfigUrl, 'GET', wireHeaders));
        blobUrl = ec.statusUploadBlob.url ?? '';
        handlers = ec.handlers.map((h) => ({
          name: h.name,
          version: h.version,
          status: 'Ready',
          code: 0,
          message: null,
          isMultiConfig: false,
          extensions: h.settings.slice(0, 1).map((s) => ({
            name: h.name,
            sequenceNumber: s.seqNo,
            configurationAppliedTime: null,
            operation: 'Enable',
            status: 'success' as const,
            code: 0,
            message: 'enabled',
            substatus: [],
          })),
        }));
        incarnation = gs.incarnation;
        containerId = gs.containerId;
        configName = gs.configName;
      }
      const now = new Date();
      const json = formatAggregateStatus(
        buildAggregateStatus({
          agentVersion: COMPAT_AGENT_VERSION,
          handlers,
          goalState: { status: 'Success', code: 0, message: '', inSvdSeqNo: incarnation, timestamp: now },
          os: { computerName: hostname(), osName: 'debian', osVersion: '13' },
          now,
        }),
      );
      const data = Buffer.from(json);
      const envelope = {
        content: data.toString('base64'),
        headers: Object.entries(blockBlobHeaders(data.length, now)).map(([headerName, headerValue]) => ({ headerName, headerValue })),
        requestUri: blobUrl,
      };
      await send(
        `http://${hgap}/status`,
        'PUT',
        {
          'x-ms-version': '2015-09-01',
          'x-ms-containerid': containerId,
          'x-ms-host-config-name': configName,
          'Content-Type': 'application/json',
        },
        JSON.stringify(envelope),
      );
    } catch (e) {
      process.stderr.write(`minimal-client: ${(e as Error).message}\n`);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, periodMs - (Date.now() - started))));
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`minimal-client: ${(e as Error).message}\n`);
  process.exit(1);
});
