// Manifest and package downloads (docs/protocol.md §3.3, §3.5, §5.2, §5.3) against the fabric emulator, in-process
// on 127.0.0.1: direct channel, HostGAPlugin fallback and its stickiness, both failing, truncated bodies, bodies that
// are not complete zips, the size cap, the 5-minute cap (injected clock), the proxy for storage only, and no partial
// file left behind.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { isAgentError } from '../../../src/util/errors.ts';
import { createHttpClient, type HttpClientOptions } from '../../../src/fabric/http.ts';
import { HostPluginClient } from '../../../src/fabric/hostplugin.ts';
import {
  ChannelPreference,
  DOWNLOAD_TIMEOUT_MS,
  downloadHandlerPackage,
  downloadManifest,
  isCompleteZip,
  packageZipPath,
  type DownloadContext,
} from '../../../src/extensions/download.ts';
import { registerArtifact } from '../../fabric/artifacts.ts';
import { startFabric, type Fabric } from '../../fabric/server.ts';
import type { FaultRule } from '../../fabric/types.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const NAME = 'OSTCExtensions.ExampleHandlerLinux';
const SAS = '?sv=2020-08-04&sr=b&sig=S3cr3tSignature%3D&se=2030-01-01';
const MANIFEST_XML = readFileSync(join(FIXTURES, 'tests', 'data', 'wire', 'manifest.xml'), 'utf8');

/** A zip of stored entries (what `zip -0` writes), enough for the completeness check. */
function makeZip(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nm = Buffer.from(name);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nm.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nm.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, nm, data);
    centrals.push(ch, nm);
    offset += lh.length + nm.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(centrals.length / 2, 8);
  eocd.writeUInt16LE(centrals.length / 2, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const PAYLOAD = Buffer.alloc(300_000);
for (let i = 0; i < PAYLOAD.length; i++) PAYLOAD[i] = (i * 7919) % 251;
const ZIP = makeZip({ 'HandlerManifest.json': Buffer.from('[{"handlerManifest":{}}]'), 'bin/payload': PAYLOAD });

let fabric: Fabric;
let libDir: string;

beforeEach(async () => {
  const any = { host: '127.0.0.1', port: 0 };
  fabric = await startFabric({ wireServer: any, hostPlugin: any, imds: any, blob: any });
  libDir = mkdtempSync(join(tmpdir(), 'ext-download-'));
});

afterEach(async () => {
  await fabric.close();
  rmSync(libDir, { recursive: true, force: true });
});

const blobUrl = (path: string) => `http://127.0.0.1:${fabric.ports.blob}${path}${SAS}`;
const faults = (rules: FaultRule[]) => fabric.state.faults.set(rules);
const hits = (service: string, pathPart = '') => fabric.state.requests.filter((r) => r.service === service && r.path.includes(pathPart));

function context(
  o: { http?: HttpClientOptions; channel?: ChannelPreference; now?: () => number; random?: () => number } = {},
): DownloadContext {
  const http = createHttpClient({ sleep: async () => {}, proxy: { configHost: null, configPort: null, env: {} }, ...o.http });
  const hostPlugin = new HostPluginClient({
    http,
    endpoints: {
      wireServer: `127.0.0.1:${fabric.ports.wireServer}`,
      hostPlugin: `127.0.0.1:${fabric.ports.hostPlugin}`,
      imds: 'unused:1',
      overridden: true,
    },
    context: () => ({ containerId: 'c-1', configName: 'cfg-1', deploymentId: 'd-1' }),
    refresh: async () => {},
  });
  return {
    http,
    hostPlugin,
    channel: o.channel ?? new ChannelPreference(),
    random: o.random ?? (() => 0.99),
    ...(o.now ? { now: o.now } : {}),
  };
}

function registerPackage(path = `/ext/${NAME}__1.2.0.zip`, bytes: Buffer = ZIP): string {
  registerArtifact(fabric.state, path, bytes);
  return blobUrl(path);
}

const pkg = (uris: string[], extra: { maxBytes?: number; manifestUri?: string } = {}) => ({
  libDir,
  name: NAME,
  version: '1.2.0',
  uris,
  manifestUri: extra.manifestUri ?? null,
  ...(extra.maxBytes !== undefined ? { maxBytes: extra.maxBytes } : {}),
});

/** Only the finished zip (or nothing) is in Lib.Dir: no temporary or partial file. */
function libFiles(): string[] {
  return readdirSync(libDir).sort();
}

test('direct channel: the package streams to <Lib.Dir>/<Name>__<Version>.zip, through no HostGAPlugin', async () => {
  const url = registerPackage();
  const ctx = context();
  const zip = await downloadHandlerPackage(ctx, pkg([url]));
  assert.equal(zip, packageZipPath(libDir, NAME, '1.2.0'));
  assert.equal(zip, join(libDir, `${NAME}__1.2.0.zip`));
  assert.deepEqual(readFileSync(zip), ZIP);
  assert.deepEqual(libFiles(), [`${NAME}__1.2.0.zip`]);
  assert.equal(hits('blob', '/ext/').length, 1);
  assert.equal(hits('hostplugin').length, 0);
  assert.equal(ctx.channel!.hostPluginFirst, false);
});

test('direct 403 → the HostGAPlugin serves it with the artifact headers, and goes first from then on', async () => {
  const url = registerPackage();
  const manifestUrl = blobUrl('/manifests/m.xml');
  faults([{ service: 'blob', kind: 'status', status: 403 }]);
  const ctx = context();
  const zip = await downloadHandlerPackage(ctx, pkg([url], { manifestUri: manifestUrl }));
  assert.deepEqual(readFileSync(zip), ZIP);
  assert.equal(hits('blob').length, 2, 'the direct channel gets two attempts, throttling does not raise them');
  const art = hits('hostplugin', '/extensionArtifact');
  assert.equal(art.length, 1);
  const h = art[0]!.headers;
  assert.equal(h['x-ms-artifact-location'], url);
  assert.equal(h['x-ms-artifact-manifest-location'], manifestUrl);
  assert.equal(h['x-ms-version'], '2015-09-01');
  assert.equal(h['x-ms-containerid'], 'c-1');
  assert.equal(h['x-ms-host-config-name'], 'cfg-1');
  assert.equal(h['x-ms-verify-from-artifacts-blob'], undefined);
  assert.equal(ctx.channel!.hostPluginFirst, true);

  // sticky: the next download asks the HostGAPlugin first and never touches storage
  faults([]);
  fabric.state.requests.length = 0;
  rmSync(zip);
  await downloadHandlerPackage(ctx, pkg([url]));
  assert.equal(hits('blob').length, 0);
  assert.equal(hits('hostplugin', '/extensionArtifact').length, 1);
});

test('direct 404 → HostGAPlugin; with the HostGAPlugin first and failing, direct wins and the flag flips back', async () => {
  const url = registerPackage();
  faults([{ service: 'blob', kind: 'status', status: 404 }]);
  const ctx = context();
  await downloadHandlerPackage(ctx, pkg([url]));
  assert.equal(hits('blob').length, 1, '404 is not retried');
  assert.equal(ctx.channel!.hostPluginFirst, true);

  rmSync(packageZipPath(libDir, NAME, '1.2.0'));
  faults([{ service: 'hostplugin', path: 'extensionArtifact', kind: 'status', status: 404 }]);
  await downloadHandlerPackage(ctx, pkg([url]));
  assert.equal(ctx.channel!.hostPluginFirst, false);
});

test('both channels fail on every URI: one clear error without the SAS, every URI tried, nothing left', async () => {
  const ctx = context();
  const uris = [blobUrl('/a/missing.zip'), blobUrl('/b/missing.zip')];
  await assert.rejects(downloadHandlerPackage(ctx, pkg(uris)), (e: unknown) => {
    assert.ok(isAgentError(e, 'extension'));
    assert.match(
      e.message,
      /^cannot download the package OSTCExtensions\.ExampleHandlerLinux 1\.2\.0: every URI failed on both channels \(last error: .*404/,
    );
    assert.equal(e.context.operation, 'Download');
    assert.doesNotMatch(e.message, /S3cr3t/);
    return true;
  });
  assert.equal(hits('blob', '/a/missing.zip').length, 1);
  assert.equal(hits('blob', '/b/missing.zip').length, 1);
  assert.equal(hits('hostplugin', '/extensionArtifact').length, 2);
  assert.deepEqual(libFiles(), []);
});

test('the URIs are shuffled', async () => {
  const uris = [blobUrl('/1/p.zip'), blobUrl('/2/p.zip'), blobUrl('/3/p.zip')];
  registerPackage('/1/p.zip');
  registerPackage('/2/p.zip');
  registerPackage('/3/p.zip');
  // random() = 0 moves each element to the front in turn: [1,2,3] → [2,3,1]
  await downloadHandlerPackage(context({ random: () => 0 }), pkg(uris));
  assert.deepEqual(
    hits('blob').map((r) => r.path.split('?')[0]),
    ['/2/p.zip'],
  );
});

test('a truncated body (connection cut before Content-Length) is retried, and the result is complete', async () => {
  const url = registerPackage();
  faults([{ service: 'blob', kind: 'truncate', times: 1 }]);
  const zip = await downloadHandlerPackage(context(), pkg([url]));
  assert.deepEqual(readFileSync(zip), ZIP);
  assert.equal(hits('blob').length, 2);
  assert.equal(hits('blob')[0]!.fault, 'truncate');
});

test('truncated on every attempt of both channels: a clear error and no partial file', async () => {
  const url = registerPackage();
  faults([{ kind: 'truncate', path: '/ext/|/extensionArtifact' }]);
  await assert.rejects(
    downloadHandlerPackage(context(), pkg([url])),
    /every URI failed on both channels \(last error: GET .*\/extensionArtifact failed after 6 attempts: .*(ended after \d+ of \d+ bytes|does not match content-length)/i,
  );
  assert.ok(hits('hostplugin', '/extensionArtifact').length >= 2);
  assert.deepEqual(libFiles(), []);
});

test('a body that is not a complete zip (no central directory) is refused on both channels', async () => {
  const url = registerPackage(`/ext/${NAME}__1.2.0.zip`, ZIP.subarray(0, ZIP.length - 1000));
  await assert.rejects(
    downloadHandlerPackage(context(), pkg([url])),
    /last error: the download from .*__1\.2\.0\.zip\?.*REDACTED.* is not a complete zip file \(no central directory\)/,
  );
  assert.equal(hits('hostplugin', '/extensionArtifact').length, 1);
  assert.deepEqual(libFiles(), []);
});

test('the size cap stops a package larger than allowed, on both channels', async () => {
  const url = registerPackage();
  await assert.rejects(downloadHandlerPackage(context(), pkg([url], { maxBytes: 100_000 })), /larger than the 100000-byte limit/);
  assert.deepEqual(libFiles(), []);
  // an endless body without a usable Content-Length is cut too
  faults([{ kind: 'oversize', mib: 1, path: '/ext/|/extensionArtifact' }]);
  await assert.rejects(downloadHandlerPackage(context(), pkg([url], { maxBytes: 500_000 })), /larger than the 500000-byte limit/);
  assert.deepEqual(libFiles(), []);
});

test('the whole download gives up after 5 minutes of the (injected) clock, across channels and URIs', async () => {
  const uris = [blobUrl('/x/p.zip'), blobUrl('/y/p.zip')];
  faults([{ kind: 'status', status: 503, path: '/x/|/y/|/extensionArtifact' }]);
  let clock = 1_000_000;
  const now = () => clock;
  const sleep = async () => {
    clock += 100_000; // every back-off "takes" 100 s
  };
  const ctx = context({ now, http: { now, sleep } });
  await assert.rejects(downloadHandlerPackage(ctx, pkg(uris)), (e: unknown) => {
    assert.ok(isAgentError(e, 'extension'));
    assert.match(e.message, /^cannot download the package .*: gave up after 5 minutes \(last error: .*503/);
    return true;
  });
  // direct: 2 attempts (100 s), HostGAPlugin: attempts until 300 s; the second URI is never reached
  assert.equal(clock - 1_000_000, 300_000);
  assert.equal(hits('blob').length, 2);
  assert.equal(hits('hostplugin', '/extensionArtifact').length, 2);
  assert.equal(hits('blob', '/y/').length + hits('blob', '/x/').length, 2);
  assert.deepEqual(libFiles(), []);
});

test('a package attempt may take the whole download deadline (not the 10 s of a platform document), on both channels', async () => {
  const url = registerPackage();
  faults([{ kind: 'status', status: 503, path: '/ext/' }]); // the direct channel fails, the HostGAPlugin serves it
  const ctx = context();
  const seen: Array<[string, number | undefined]> = [];
  const request = ctx.http.request.bind(ctx.http);
  ctx.http.request = (r) => {
    if (r.toFile !== undefined) seen.push([new URL(r.url).pathname, r.timeoutMs]);
    return request(r);
  };
  await downloadHandlerPackage(ctx, pkg([url]));
  assert.deepEqual(seen, [
    [`/ext/${NAME}__1.2.0.zip`, DOWNLOAD_TIMEOUT_MS],
    ['/extensionArtifact', DOWNLOAD_TIMEOUT_MS],
  ]);
});

test('an existing complete zip is used as it is; an incomplete one is discarded and downloaded again', async () => {
  const url = registerPackage();
  const target = packageZipPath(libDir, NAME, '1.2.0');
  writeFileSync(target, ZIP);
  assert.equal(await downloadHandlerPackage(context(), pkg([url])), target);
  assert.equal(fabric.state.requests.length, 0);

  writeFileSync(target, ZIP.subarray(0, 5000));
  assert.equal(isCompleteZip(target), false);
  await downloadHandlerPackage(context(), pkg([url]));
  assert.deepEqual(readFileSync(target), ZIP);
  assert.equal(hits('blob').length, 1);
});

test('manifests: direct, then a malformed direct body falls back to the HostGAPlugin with the Fast Track header', async () => {
  registerArtifact(fabric.state, '/manifests/example.xml', MANIFEST_XML);
  const url = blobUrl('/manifests/example.xml');
  const first = await downloadManifest(context(), { name: NAME, manifestUris: [url] });
  assert.equal(first.uri, url);
  assert.equal(first.xml, MANIFEST_XML);
  assert.equal(first.manifest.packages.length, 16);
  assert.equal(hits('hostplugin').length, 0);

  faults([{ service: 'blob', kind: 'malformed' }]);
  const ctx = context();
  const second = await downloadManifest(ctx, { name: NAME, manifestUris: [url] }, { fastTrack: true });
  assert.equal(second.manifest.packages.length, 16);
  const art = hits('hostplugin', '/extensionArtifact');
  assert.equal(art.length, 1);
  assert.equal(art[0]!.headers['x-ms-verify-from-artifacts-blob'], 'true');
  assert.equal(ctx.channel!.hostPluginFirst, true);

  await assert.rejects(
    downloadManifest(context(), { name: NAME, manifestUris: [] }),
    (e: unknown) => isAgentError(e, 'extension') && e.message === `cannot download the manifest of ${NAME}: it has no URIs`,
  );
});

test('a HostGAPlugin without API 2015-09-01 is not used for artifacts', async () => {
  const url = registerPackage();
  faults([
    { service: 'blob', kind: 'status', status: 404 },
    { service: 'hostplugin', path: '^/versions', kind: 'status', status: 200, body: '["2012-11-30"]' },
  ]);
  await assert.rejects(
    downloadHandlerPackage(context(), pkg([url])),
    /last error: the HostGAPlugin does not support API version 2015-09-01/,
  );
  assert.equal(hits('hostplugin', '/extensionArtifact').length, 0);
});

/** An HTTP forward proxy (absolute-form requests, as undici sends for http:// targets) that records what it relays. */
async function recordingProxy(): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const up = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

test('storage goes through the configured proxy; the HostGAPlugin never does', async () => {
  const proxy = await recordingProxy();
  try {
    const url = registerPackage();
    const ctx = context({ http: { proxy: { configHost: '127.0.0.1', configPort: proxy.port, env: {} } } });
    await downloadHandlerPackage(ctx, pkg([url]));
    assert.deepEqual(proxy.seen, [url]);

    rmSync(packageZipPath(libDir, NAME, '1.2.0'));
    proxy.seen.length = 0;
    faults([{ service: 'blob', kind: 'status', status: 404 }]);
    await downloadHandlerPackage(ctx, pkg([url]));
    assert.deepEqual(proxy.seen, [url], 'only the failing direct request went through the proxy');
    assert.ok(hits('hostplugin', '/versions').length >= 1);
    assert.equal(hits('hostplugin', '/extensionArtifact').length, 1);
  } finally {
    proxy.server.closeAllConnections();
    await new Promise<void>((r) => proxy.server.close(() => r()));
  }
});

test('the control API registers artifacts (base64), served by blob GET and /extensionArtifact', async () => {
  const socket = join(libDir, 'control.sock');
  const any = { host: '127.0.0.1', port: 0 };
  const f2 = await startFabric({ wireServer: any, hostPlugin: any, imds: any, blob: any, controlSocket: socket });
  try {
    const { ControlClient } = await import('../../fabric/client.ts');
    const control = new ControlClient(socket);
    await control.registerArtifacts({ [`https://acct.blob.core.windows.net/c/${NAME}__1.2.0.zip?sig=x`]: ZIP });
    assert.deepEqual(await control.call('GET', '/artifacts'), [{ path: `/c/${NAME}__1.2.0.zip`, bytes: ZIP.length }]);
    await assert.rejects(control.call('POST', '/artifacts', { artifacts: { '/x': 42 } }), /artifact \/x must be base64 text/);
    await assert.rejects(control.call('POST', '/artifacts', [1]), /POST \/artifacts needs \{"artifacts"/);
    const direct = await fetch(`http://127.0.0.1:${f2.ports.blob}/c/${NAME}__1.2.0.zip`);
    assert.deepEqual(Buffer.from(await direct.arrayBuffer()), ZIP);
    const viaHost = await fetch(`http://127.0.0.1:${f2.ports.hostPlugin}/extensionArtifact`, {
      headers: { 'x-ms-artifact-location': `https://other.blob.core.windows.net/c/${NAME}__1.2.0.zip?sig=y` },
    });
    assert.deepEqual(Buffer.from(await viaHost.arrayBuffer()), ZIP);
    await control.reset();
    assert.deepEqual(await control.call('GET', '/artifacts'), []);
  } finally {
    await f2.close();
  }
});
