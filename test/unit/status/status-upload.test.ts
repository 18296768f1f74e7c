// Status blob upload (docs/protocol.md §3.5, §6.2, §10 items 10–11) against the fabric emulator on 127.0.0.1:
// the HostGAPlugin PUT /status envelope, the fallback to a direct BlockBlob PUT when the HGAP fails, no fallback on
// HGAP 410, PageBlob create + 512-aligned page writes (zero padding direct, space padding via HGAP, ≤ 4 MiB each)
// checked byte for byte, both channels failing, a missing blob URL, SAS redaction in logs, and the emulator's
// --rewrite-address moving the documents' status blob URL to its blob service.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startFabric, type Fabric } from '../../fabric/server.ts';
import { createHttpClient, type HttpClient } from '../../../src/fabric/http.ts';
import { HostPluginClient } from '../../../src/fabric/hostplugin.ts';
import type { PlatformEndpoints } from '../../../src/fabric/endpoints.ts';
import { parseExtensionsConfig, parseVmSettings, type StatusUploadBlob } from '../../../src/fabric/documents/index.ts';
import { uploadStatus } from '../../../src/status/upload.ts';
import { MAX_PAGE_WRITE } from '../../../src/status/page-blob.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { log } from '../../../src/log/logger.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import type { RecordedRequest } from '../../fabric/types.ts';

const LOOPBACK = { host: '127.0.0.1', port: 0 };
const SAS = 'sr=b&sp=rw&se=9999-01-01&sv=2014-02-14&sig=TOPSECRETSIGNATURE';
const NOW = new Date('2025-05-06T07:08:09.123Z');
const CONTEXT = { containerId: 'container-1', configName: 'config-1', deploymentId: 'dep-1' };
const STATUS = JSON.stringify({ version: '1.1', note: 'a status document of 1300 bytes', pad: 'x'.repeat(1233) });

let fabric: Fabric;
let http: HttpClient;
let logLines: string[] = [];

before(async () => {
  fabric = await startFabric({ wireServer: LOOPBACK, hostPlugin: LOOPBACK, imds: LOOPBACK, blob: LOOPBACK, vmSettings: false });
  http = createHttpClient({ sleep: async () => {} });
  log.addSink({ write: (l) => void logLines.push(l) }, 'VERBOSE');
});
after(async () => {
  log.reset();
  await http.close();
  await fabric.close();
});
beforeEach(() => {
  fabric.state.reset();
  logLines = [];
});

function hostPlugin(): HostPluginClient {
  const endpoints: PlatformEndpoints = {
    wireServer: `127.0.0.1:${fabric.ports.wireServer}`,
    hostPlugin: `127.0.0.1:${fabric.ports.hostPlugin}`,
    imds: `127.0.0.1:${fabric.ports.imds}`,
    overridden: true,
  };
  return new HostPluginClient({ http, endpoints, context: () => CONTEXT, refresh: async () => {} });
}

const blobUrl = (name: string) => `http://127.0.0.1:${fabric.ports.blob}/vhds/${name}.status?${SAS}`;
const requests = (service: string, method = 'PUT') => fabric.state.requests.filter((r) => r.service === service && r.method === method);
const stored = (name: string) => fabric.state.blobs.get(`/vhds/${name}.status`);
const failHostPlugin = (status = 500) => fabric.state.faults.set([{ kind: 'status', service: 'hostplugin', path: '^/status', status }]);

function envelope(r: RecordedRequest): { content?: string; headers: { headerName: string; headerValue: string }[]; requestUri: string } {
  return JSON.parse(r.body);
}

describe('status upload', () => {
  test('BlockBlob through the HostGAPlugin: PUT /status with the sorted envelope, HGAP headers, storage headers', async () => {
    const out = await uploadStatus(STATUS, {
      http,
      hostPlugin: hostPlugin(),
      blob: { url: blobUrl('a'), type: 'BlockBlob' },
      now: () => NOW,
    });
    assert.deepEqual(out, { uploaded: true, channel: 'hostplugin' });
    assert.equal(requests('blob').length, 0, 'nothing goes to storage directly');
    const [put] = requests('hostplugin');
    assert.ok(put);
    assert.equal(put.path, '/status');
    assert.equal(put.headers['x-ms-version'], '2015-09-01');
    assert.equal(put.headers['content-type'], 'application/json');
    assert.equal(put.headers['x-ms-containerid'], 'container-1');
    assert.equal(put.headers['x-ms-host-config-name'], 'config-1');
    const env = envelope(put);
    assert.deepEqual(Object.keys(env), ['content', 'headers', 'requestUri'], 'keys sorted (§6.2)');
    assert.equal(env.requestUri, blobUrl('a'));
    assert.deepEqual(env.headers, [
      { headerName: 'Content-Length', headerValue: String(Buffer.byteLength(STATUS)) },
      { headerName: 'x-ms-blob-type', headerValue: 'BlockBlob' },
      { headerName: 'x-ms-date', headerValue: '2025-05-06T07:08:09Z' },
      { headerName: 'x-ms-version', headerValue: '2014-02-14' },
    ]);
    assert.equal(Buffer.from(env.content!, 'base64').toString('utf8'), STATUS);
    assert.deepEqual(stored('a'), Buffer.from(STATUS));
    assert.equal(fabric.state.statusUploads[0]!.via, 'hostplugin');
  });

  test('HGAP failing → direct BlockBlob PUT with the storage headers; the stored blob is the document', async () => {
    failHostPlugin(500);
    const out = await uploadStatus(STATUS, {
      http,
      hostPlugin: hostPlugin(),
      blob: { url: blobUrl('b'), type: 'BlockBlob' },
      now: () => NOW,
    });
    assert.deepEqual(out, { uploaded: true, channel: 'direct' });
    assert.equal(
      requests('hostplugin').filter((r) => r.path === '/status').length,
      6,
      'the HGAP request was retried by the HTTP policy first',
    );
    const [put] = requests('blob');
    assert.ok(put);
    assert.equal(put.path, `/vhds/b.status?${SAS}`);
    assert.equal(put.headers['x-ms-blob-type'], 'BlockBlob');
    assert.equal(put.headers['x-ms-version'], '2014-02-14');
    assert.equal(put.headers['x-ms-date'], '2025-05-06T07:08:09Z');
    assert.equal(put.headers['content-length'], String(Buffer.byteLength(STATUS)));
    assert.deepEqual(stored('b'), Buffer.from(STATUS));
    // (the emulator applies a fault to the answer only, so the HGAP relay wrote the blob too: check who wrote last)
    assert.equal(fabric.state.statusUploads.at(-1)!.via, 'blob');
    assert.ok(logLines.some((l) => l.includes('Falling back to direct upload')));
  });

  test('HGAP 410: no direct fallback, the HGAP context is refreshed for the next cycle', async () => {
    failHostPlugin(410);
    let refreshed = 0;
    const out = await uploadStatus(STATUS, {
      http,
      hostPlugin: hostPlugin(),
      blob: { url: blobUrl('c'), type: 'BlockBlob' },
      onHostPluginGone: async () => void refreshed++,
    });
    assert.deepEqual(out, { uploaded: false, reason: 'hostplugin-gone' });
    assert.equal(refreshed, 1);
    assert.equal(requests('blob').length, 0);
    assert.deepEqual(
      fabric.state.statusUploads.filter((u) => u.via === 'blob'),
      [],
    );
  });

  test('PageBlob direct: create with the size rounded to 512, one zero-padded page write, byte for byte', async () => {
    failHostPlugin(503);
    const url = blobUrl('p');
    const out = await uploadStatus(STATUS, { http, hostPlugin: hostPlugin(), blob: { url, type: 'PageBlob' }, now: () => NOW });
    assert.deepEqual(out, { uploaded: true, channel: 'direct' });
    const puts = requests('blob');
    assert.equal(puts.length, 2);
    const [create, page] = puts as [RecordedRequest, RecordedRequest];
    const size = Buffer.byteLength(STATUS);
    assert.equal(size, 1300);
    assert.equal(create.headers['content-length'], '0');
    assert.equal(create.headers['x-ms-blob-content-length'], '1536');
    assert.equal(create.headers['x-ms-blob-type'], 'PageBlob');
    assert.equal(create.bodyBytes, 0);
    assert.equal(page.path, `/vhds/p.status?${SAS}&comp=page`, 'comp=page after the existing SAS query');
    assert.equal(page.headers['x-ms-range'], 'bytes=0-1535');
    assert.equal(page.headers['x-ms-page-write'], 'update');
    assert.equal(page.headers['content-length'], '1536');
    assert.equal(page.headers['x-ms-version'], '2014-02-14');
    const expected = Buffer.concat([Buffer.from(STATUS), Buffer.alloc(1536 - 1300, 0)]);
    assert.deepEqual(stored('p'), expected);
  });

  test('PageBlob through the HGAP: create without content, then pages of the JSON padded with spaces', async () => {
    const url = `http://127.0.0.1:${fabric.ports.blob}/vhds/q.status`; // no query: ?comp=page
    await uploadStatus(STATUS, { http, hostPlugin: hostPlugin(), blob: { url, type: 'PageBlob' }, now: () => NOW });
    const puts = requests('hostplugin').filter((r) => r.path === '/status');
    assert.equal(puts.length, 2);
    const create = envelope(puts[0]!);
    assert.deepEqual(Object.keys(create), ['headers', 'requestUri'], 'the create step has no content');
    assert.deepEqual(
      create.headers.map((h) => [h.headerName, h.headerValue]),
      [
        ['Content-Length', '0'],
        ['x-ms-blob-content-length', '1536'],
        ['x-ms-blob-type', 'PageBlob'],
        ['x-ms-date', '2025-05-06T07:08:09Z'],
        ['x-ms-version', '2014-02-14'],
      ],
    );
    const page = envelope(puts[1]!);
    assert.equal(page.requestUri, `${url}?comp=page`);
    assert.deepEqual(
      page.headers.find((h) => h.headerName === 'x-ms-range'),
      { headerName: 'x-ms-range', headerValue: 'bytes=0-1535' },
    );
    const expected = Buffer.concat([Buffer.from(STATUS), Buffer.alloc(1536 - 1300, 0x20)]);
    assert.deepEqual(Buffer.from(page.content!, 'base64'), expected);
    assert.deepEqual(stored('q'), expected);
  });

  test('a page blob over 4 MiB is written in ≤ 4 MiB page writes, the last one zero-padded', async () => {
    const big = JSON.stringify({ pad: 'y'.repeat(MAX_PAGE_WRITE + 1000) });
    await uploadStatus(big, { http, hostPlugin: null, blob: { url: blobUrl('big'), type: 'PageBlob' } });
    const pages = requests('blob').filter((r) => r.path.endsWith('&comp=page'));
    const len = Buffer.byteLength(big);
    const padded = Math.ceil(len / 512) * 512;
    assert.deepEqual(
      pages.map((r) => [r.headers['x-ms-range'], r.bodyBytes]),
      [
        [`bytes=0-${MAX_PAGE_WRITE - 1}`, MAX_PAGE_WRITE],
        [`bytes=${MAX_PAGE_WRITE}-${padded - 1}`, padded - MAX_PAGE_WRITE],
      ],
    );
    assert.deepEqual(stored('big'), Buffer.concat([Buffer.from(big), Buffer.alloc(padded - len, 0)]));
  });

  test('both channels failing: one clear error without the SAS; logs carry no SAS either', async () => {
    fabric.state.faults.set([{ kind: 'status', status: 500, path: 'status' }]);
    await assert.rejects(
      uploadStatus(STATUS, { http, hostPlugin: hostPlugin(), blob: { url: blobUrl('d'), type: 'BlockBlob' } }),
      (e) =>
        isAgentError(e, 'http') &&
        /^failed to upload the status blob via either channel/.test(e.message) &&
        !e.message.includes('TOPSECRET'),
    );
    assert.ok(logLines.length > 0);
    assert.ok(
      logLines.every((l) => !l.includes('TOPSECRET')),
      'no SAS signature in the log',
    );
  });

  test('no status blob URL: one forced refresh, then skipped', async () => {
    let refreshes = 0;
    const none: StatusUploadBlob = { url: null, type: 'BlockBlob' };
    const refreshBlob = async () => {
      refreshes++;
      return none;
    };
    const out = await uploadStatus(STATUS, { http, hostPlugin: hostPlugin(), blob: none, refreshBlob });
    assert.deepEqual(out, { uploaded: false, reason: 'no-status-blob' });
    assert.equal(refreshes, 1);
    assert.equal(fabric.state.requests.length, 0);
    const found = await uploadStatus(STATUS, {
      http,
      hostPlugin: null,
      blob: none,
      refreshBlob: async () => ({ url: blobUrl('r'), type: 'BlockBlob' }),
    });
    assert.deepEqual(found, { uploaded: true, channel: 'direct' });
    assert.deepEqual(stored('r'), Buffer.from(STATUS));
  });
});

describe('emulator --rewrite-address and status blob URLs', () => {
  let rw: Fabric;
  before(async () => {
    rw = await startFabric({
      wireServer: LOOPBACK,
      hostPlugin: LOOPBACK,
      imds: LOOPBACK,
      blob: LOOPBACK,
      rewrite: { host: '127.0.0.1' },
      docs: { extensionsConfig: join(FIXTURES, 'tests', 'data', 'wire', 'ext_conf.xml') },
    });
  });
  after(() => rw.close());

  test('the ExtensionsConfig and vmSettings status blob URLs point at the blob service; a direct upload lands there', async () => {
    const ec = parseExtensionsConfig(rw.state.doc('extensionsConfig')!);
    const url = ec.statusUploadBlob.url!;
    assert.equal(
      url,
      `http://127.0.0.1:${rw.ports.blob}/vhds/test-cs12.test-cs12.test-cs12.status?sr=b&sp=rw&se=9999-01-01&sk=key1&sv=2014-02-14&sig=hfRh7gzUE7sUtYwke78IOlZOrTRCYvkec4hGZ9zZzXo`,
    );
    const vm = parseVmSettings(rw.state.doc('vmSettings')!);
    assert.match(
      vm.statusUploadBlob.url!,
      new RegExp(`^http://127\\.0\\.0\\.1:${rw.ports.blob}/\\$system/edp0plkw2b\\.[^?]+\\.status\\?sv=2018-03-28&`),
    );
    const out = await uploadStatus(STATUS, { http, hostPlugin: null, blob: ec.statusUploadBlob });
    assert.deepEqual(out, { uploaded: true, channel: 'direct' });
    assert.deepEqual(
      rw.state.statusUploads.map((u) => [u.via, u.blob, u.blobType, u.content]),
      [['blob', '/vhds/test-cs12.test-cs12.test-cs12.status', 'BlockBlob', STATUS]],
    );
  });
});
