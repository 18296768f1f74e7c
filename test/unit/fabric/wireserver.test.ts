// WireServer, goal-state orchestration, HostGAPlugin and IMDS clients against an in-process server that serves
// the recorded documents: document order and headers (§2.3, §2.4), URL redirection, the incarnation rule, the
// RoleInstance retry, the cipher fallback, 410 handling, health reports, vmSettings ETag / 304 / 404 / 410.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Config } from '../../../src/config/index.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { platformEndpoints } from '../../../src/fabric/endpoints.ts';
import { createHttpClient } from '../../../src/fabric/http.ts';
import { WireServerClient } from '../../../src/fabric/wireserver.ts';
import { GoalStateFetcher, type InstallCertificates } from '../../../src/fabric/goal-state.ts';
import { HostPluginClient } from '../../../src/fabric/hostplugin.ts';
import { loadOrCreateTransportCert, regenerateTransportCert } from '../../../src/fabric/transport-cert-files.ts';
import { generateTransportCertificate, transportCertHeader } from '../../../src/crypto/transport-cert.ts';
import { FIXTURES } from '../../helpers/paths.ts';

const WIRE = join(FIXTURES, 'tests', 'data', 'wire');
const HGAP = join(FIXTURES, 'tests', 'data', 'hostgaplugin');
const doc = (name: string) => readFileSync(join(WIRE, name), 'utf8');
const TRANSPORT = generateTransportCertificate();

interface Hit {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
/** Answers the requests a test cares about (synchronously); the rest get the recorded documents. */
type Route = (hit: Hit, res: ServerResponse) => unknown;

/** A fake fabric on one port: WireServer paths, and the HostGAPlugin/IMDS ones on the same server. */
async function fabric(t: { after(fn: () => Promise<void>): void }, route: Route = () => false) {
  const hits: Hit[] = [];
  const state = { goalState: doc('goal_state.xml') };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const hit = { method: req.method!, url: req.url!, headers: req.headers, body };
      hits.push(hit);
      route(hit, res);
      if (res.headersSent) return; // the test's route answered
      const u = new URL(req.url!, 'http://x');
      const type = u.searchParams.get('type');
      const comp = u.searchParams.get('comp');
      const send = (text: string) => res.writeHead(200, { 'Content-Type': 'text/xml' }).end(text);
      if (comp === 'versions') return send(doc('version_info.xml'));
      if (comp === 'goalstate') return send(state.goalState);
      if (type === 'hostingEnvironmentConfig') return send(doc('hosting_env.xml'));
      if (type === 'sharedConfig') return send(doc('shared_config.xml'));
      if (type === 'extensionsConfig') return send(doc('ext_conf.xml'));
      if (comp === 'certificates') return send(doc('certs.xml'));
      if (comp === 'health') return res.writeHead(200).end();
      res.writeHead(404).end('not here');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const config = Config.from({
    'Protocol.WireServerEndpoint': `127.0.0.1:${port}`,
    'Protocol.HostGAPluginPort': port,
    'Protocol.ImdsEndpoint': `127.0.0.1:${port}`,
  });
  const endpoints = platformEndpoints(config, 'unused');
  const sleeps: number[] = [];
  const sleep = async (ms: number) => void sleeps.push(ms);
  const http = createHttpClient({ sleep, proxy: { configHost: null, configPort: null, env: {} } });
  const wire = new WireServerClient({ http, endpoints, sleep });
  return { hits, state, endpoints, http, wire, sleeps, port };
}

function libDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'wire-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const fakeInstall =
  (calls: Array<Parameters<InstallCertificates>[0]>): InstallCertificates =>
  async (args) => {
    calls.push(args);
    return [{ thumbprint: 'ABC', hasPrivateKey: true }];
  };

test('versions check: 2012-11-30 supported; otherwise a protocol error', async (t) => {
  const f = await fabric(t, (hit, res) => {
    if (hit.url.includes('bad'))
      return void res.writeHead(200).end('<Versions><Preferred><Version>2099-01-01</Version></Preferred><Supported/></Versions>');
  });
  const v = await f.wire.checkVersions();
  assert.equal(v.preferred, '2012-11-30');
  assert.equal(f.hits[0]!.url, '/?comp=versions');
  const bad = new WireServerClient({ http: f.http, endpoints: { ...f.endpoints, wireServer: `127.0.0.1:${f.port}/bad` } });
  await assert.rejects(bad.checkVersions(), /does not support protocol version 2012-11-30/);
});

test('a full goal-state fetch: documents in §2.4 order, redirected, with the standard and certificate headers', async (t) => {
  const f = await fabric(t);
  const lib = libDir(t);
  const calls: Array<Parameters<InstallCertificates>[0]> = [];
  const fetcher = new GoalStateFetcher({ wire: f.wire, libDir: lib, transport: TRANSPORT, installCertificates: fakeInstall(calls) });
  const { goalState: gs, changed } = await fetcher.fetch();
  assert.equal(changed, true);
  assert.equal(gs.incarnation, '1');
  assert.equal(gs.containerId, 'c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2');
  assert.equal(gs.roleInstanceId, 'b61f93d0-e1ed-40b2-b067-22c243233448.MachineRole_IN_0');
  assert.ok(gs.vmName.length > 0 && gs.roleName.length > 0 && gs.deploymentName.length > 0);
  assert.ok(gs.extensionsConfig && gs.extensionsConfig.handlers.length > 0);
  assert.deepEqual(gs.certificates, [{ thumbprint: 'ABC', hasPrivateKey: true }]);
  const order = f.hits.map((h) => new URL(h.url, 'http://x').searchParams);
  assert.deepEqual(
    order.map((p) => p.get('type') ?? p.get('comp')),
    ['goalstate', 'extensionsConfig', 'hostingEnvironmentConfig', 'sharedConfig', 'certificates'],
  );
  for (const h of f.hits) {
    assert.equal(h.headers['x-ms-agent-name'], 'WALinuxAgent');
    assert.equal(h.headers['x-ms-version'], '2012-11-30');
  }
  const certReq = f.hits[4]!;
  assert.equal(certReq.headers['x-ms-guest-agent-public-x509-cert'], transportCertHeader(TRANSPORT.certPem));
  assert.equal(certReq.headers['x-ms-cipher-name'], 'AES128_CBC');
  assert.match(certReq.url, /^\/machine\/865a6683-91d8-450f-99ae\/.*comp=certificates&incarnation=1$/);
  // the installer got the Data of certs.xml and the transport pair
  assert.equal(calls.length, 1);
  assert.match(calls[0]!.dataBase64, /^MIIOgwYJKoZIhvcNAQcDoIIO/);
  assert.equal(calls[0]!.transportKeyPem, TRANSPORT.keyPem);
  assert.equal(readFileSync(join(lib, 'SharedConfig.xml'), 'utf8'), doc('shared_config.xml'));
  assert.equal(readFileSync(join(lib, 'Certificates.xml'), 'utf8'), doc('certs.xml'));
  assert.equal(statSync(join(lib, 'Certificates.xml')).mode & 0o777, 0o600);
  assert.deepEqual(fetcher.context(), {
    containerId: 'c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2',
    configName: 'bc8b9d47-b5ed-4704-85d9-fd74cc967ec2.5.bc8b9d47-b5ed-4704-85d9-fd74cc967ec2.5._canary.1.xml',
    deploymentId: 'bc8b9d47-b5ed-4704-85d9-fd74cc967ec2',
  });
});

test('incarnation rule: same string → no documents (context still refreshed); any other string → documents', async (t) => {
  const f = await fabric(t);
  const fetcher = new GoalStateFetcher({ wire: f.wire, libDir: libDir(t), transport: TRANSPORT, installCertificates: fakeInstall([]) });
  await fetcher.fetch();
  const before = f.hits.length;
  f.state.goalState = doc('goal_state.xml').replace('c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2', 'new-container');
  const again = await fetcher.fetch();
  assert.equal(again.changed, false);
  assert.equal(f.hits.length, before + 1);
  assert.equal(fetcher.context().containerId, 'new-container');
  assert.equal(again.goalState.containerId, 'new-container');
  // a *lower* incarnation is a change too: it is opaque (§10 item 1)
  f.state.goalState = doc('goal_state.xml').replace('<Incarnation>1</Incarnation>', '<Incarnation>0</Incarnation>');
  const lower = await fetcher.fetch();
  assert.equal(lower.changed, true);
  assert.equal(lower.goalState.incarnation, '0');
  assert.equal(f.hits.length, before + 1 + 5);
  // forced refresh fetches the documents without a change
  assert.equal((await fetcher.fetch(true)).changed, true);
});

test('the goal state text of the last fetch again: the same parsed result, not parsed anew; a new text is parsed', async (t) => {
  const f = await fabric(t);
  const a = await f.wire.fetchGoalState();
  const b = await f.wire.fetchGoalState();
  assert.equal(b.goalState, a.goalState, 'the same object for the same text');
  assert.equal(f.hits.length, 2, 'still fetched every time');
  f.state.goalState = doc('goal_state.xml').replace('<Incarnation>1</Incarnation>', '<Incarnation>2</Incarnation>');
  const c = await f.wire.fetchGoalState();
  assert.notEqual(c.goalState, a.goalState);
  assert.equal(c.goalState.incarnation, '2');
  assert.equal(a.goalState.incarnation, '1');
});

test('a goal state without RoleInstance is asked for again 6 × 0.5 s, then a clear error', async (t) => {
  let missing = 2;
  const noRole = doc('goal_state.xml').replace(/<RoleInstanceList>[\s\S]*<\/RoleInstanceList>/, '<RoleInstanceList/>');
  const f = await fabric(t, (hit, res) => {
    if (hit.url.includes('goalstate') && missing-- > 0) return void res.writeHead(200).end(noRole);
  });
  const { goalState } = await f.wire.fetchGoalState();
  assert.equal(goalState.incarnation, '1');
  assert.deepEqual(f.sleeps, [500, 500]);
  missing = 100;
  const err = await f.wire.fetchGoalState().catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'protocol'));
  assert.match(err.message, /no RoleInstance after 6 attempts/);
  assert.equal(f.hits.length, 3 + 6);
});

test('certificates: a failed AES128_CBC decryption is retried with DES_EDE3_CBC; both failing leaves the goal state without certificates, saying why, and they are asked for again', async (t) => {
  const f = await fabric(t);
  const ciphers: string[] = [];
  let fail = 1;
  const install: InstallCertificates = async () => {
    ciphers.push(String(f.hits.at(-1)!.headers['x-ms-cipher-name']));
    if (fail-- > 0) throw new Error('bad decrypt');
    return [];
  };
  const fetcher = new GoalStateFetcher({ wire: f.wire, libDir: libDir(t), transport: TRANSPORT, installCertificates: install });
  await fetcher.fetch();
  assert.deepEqual(ciphers, ['AES128_CBC', 'DES_EDE3_CBC']);
  fail = 2;
  // Both failing costs only the certificates (issue 11 finding 9): the goal state is returned, saying why.
  const { goalState } = await fetcher.fetch(true);
  assert.deepEqual(goalState.certificates, []);
  assert.match(goalState.certificatesError ?? '', /^the certificates could not be retrieved with either cipher: bad decrypt/);
  // The next fetch of the same incarnation asks for them again, and they arrive.
  ciphers.length = 0;
  const next = await fetcher.fetch();
  assert.equal(next.changed, false);
  assert.deepEqual(ciphers, ['AES128_CBC']);
  assert.equal(next.goalState.certificatesError, null);
  // Once they arrived, they are not asked for again.
  await fetcher.fetch();
  assert.deepEqual(ciphers, ['AES128_CBC']);
});

test('certificates: a non-PFX format or a missing Data element means no certificates', async (t) => {
  let which = 'certs_format_not_pfx.xml';
  const f = await fabric(t, (hit, res) => {
    if (hit.url.includes('comp=certificates')) return void res.writeHead(200).end(doc(which));
  });
  const calls: Array<Parameters<InstallCertificates>[0]> = [];
  const fetcher = new GoalStateFetcher({ wire: f.wire, libDir: libDir(t), transport: TRANSPORT, installCertificates: fakeInstall(calls) });
  assert.deepEqual((await fetcher.fetch()).goalState.certificates, []);
  which = 'certs_no_format_specified.xml';
  assert.deepEqual((await fetcher.fetch(true)).goalState.certificates, [{ thumbprint: 'ABC', hasPrivateKey: true }]);
  assert.equal(calls.length, 1);
});

test('a 410 on a document re-fetches the goal state once and retries', async (t) => {
  let gone = 1;
  const f = await fabric(t, (hit, res) => {
    if (hit.url.includes('sharedConfig') && gone-- > 0) return void res.writeHead(410).end();
  });
  const fetcher = new GoalStateFetcher({ wire: f.wire, libDir: libDir(t), transport: TRANSPORT, installCertificates: fakeInstall([]) });
  await fetcher.fetch();
  const goalStates = f.hits.filter((h) => h.url.includes('comp=goalstate')).length;
  assert.equal(goalStates, 2);
});

test('health report: POST with the XML content type and the §3.1 body', async (t) => {
  const f = await fabric(t);
  await f.wire.reportHealth({
    incarnation: '1',
    containerId: 'c',
    roleInstanceId: 'r',
    state: 'NotReady',
    subStatus: 'Provisioning',
    description: 'a < b',
  });
  const h = f.hits[0]!;
  assert.equal(h.method, 'POST');
  assert.equal(h.url, '/machine?comp=health');
  assert.equal(h.headers['content-type'], 'text/xml;charset=utf-8');
  assert.match(h.body, /<State>NotReady<\/State><Details><SubStatus>Provisioning<\/SubStatus><Description>a &lt; b<\/Description>/);
});

test('health report retries: 0.5 s, then §3.1 (Fibonacci × 15 s), and stop at the deadline', async (t) => {
  const f = await fabric(t, (_h, res) => void res.writeHead(500).end());
  let clock = 0;
  const waits: number[] = [];
  const http = createHttpClient({
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    now: () => clock,
    proxy: { configHost: null, configPort: null, env: {} },
  });
  const wire = new WireServerClient({ http, endpoints: f.endpoints, now: () => clock });
  const err = await wire
    .reportHealth({ incarnation: '1', containerId: 'c', roleInstanceId: 'r', state: 'Ready' }, 100_000)
    .catch((e: unknown) => e);
  assert.ok(isAgentError(err, 'http'));
  assert.match(err.message, /no time left to retry/);
  // 0.5 s and 45 s fit in 100 s; the next wait (75 s) would pass it
  assert.deepEqual(waits, [500, 45_000]);
  assert.equal(f.hits.length, 3);
});

test('HostGAPlugin vmSettings: ETag, 304 with If-None-Match, 404 backs off 6 hours, missing ETag is an error', async (t) => {
  let mode = 'ok';
  const vm = readFileSync(join(HGAP, 'vm_settings.json'), 'utf8');
  const f = await fabric(t, (hit, res) => {
    if (!hit.url.startsWith('/vmSettings')) return false;
    if (mode === '404') return void res.writeHead(404).end();
    if (mode === 'noetag') return void res.writeHead(200).end(vm);
    if (hit.headers['if-none-match'] === '"e1"') return void res.writeHead(304, { ETag: '"e1"' }).end();
    res.writeHead(200, { ETag: '"e1"' }).end(vm);
  });
  let clock = 0;
  const ctx = { containerId: 'cid', configName: 'cfg', deploymentId: 'd' };
  const hp = new HostPluginClient({
    http: f.http,
    endpoints: f.endpoints,
    context: () => ctx,
    refresh: async () => undefined,
    now: () => clock,
  });
  const first = await hp.vmSettings();
  assert.equal(first.kind, 'updated');
  const h = f.hits[0]!.headers;
  assert.equal(h['x-ms-version'], '2015-09-01');
  assert.equal(h['x-ms-containerid'], 'cid');
  assert.equal(h['x-ms-host-config-name'], 'cfg');
  assert.match(String(h['x-ms-client-correlationid']), /^[0-9a-f-]{36}$/);
  assert.equal(h['if-none-match'], undefined);
  assert.equal((await hp.vmSettings()).kind, 'unchanged');
  assert.equal(f.hits[1]!.headers['if-none-match'], '"e1"');
  assert.equal((await hp.vmSettings(true)).kind, 'updated'); // forced: no If-None-Match
  mode = '404';
  assert.equal((await hp.vmSettings(true)).kind, 'not-supported');
  const sent = f.hits.length;
  clock += 5 * 3600_000;
  assert.equal((await hp.vmSettings()).kind, 'not-supported');
  assert.equal(f.hits.length, sent, 'no request within 6 hours of a 404');
  clock += 3600_000 + 1;
  mode = 'noetag';
  await assert.rejects(hp.vmSettings(), /the vmSettings response has no ETag header/);
  assert.equal(f.hits.length, sent + 1);
});

test('HostGAPlugin 410 refreshes the goal state once and retries with the new context', async (t) => {
  const f = await fabric(t, (hit, res) => {
    if (hit.url.startsWith('/extensionArtifact')) {
      if (hit.headers['x-ms-containerid'] === 'old') return void res.writeHead(410).end();
      return void res.writeHead(200).end('artifact-bytes');
    }
    if (hit.url.startsWith('/status')) return void res.writeHead(200).end();
    if (hit.url.startsWith('/versions')) return void res.writeHead(200).end('["2015-09-01"]');
    return false;
  });
  const ctx = { containerId: 'old', configName: 'cfg', deploymentId: 'd' };
  let refreshed = 0;
  const hp = new HostPluginClient({
    http: f.http,
    endpoints: f.endpoints,
    context: () => ctx,
    refresh: async () => {
      refreshed++;
      ctx.containerId = 'new';
    },
  });
  assert.equal(await hp.checkVersions(), true);
  const body = await hp.extensionArtifact('https://a.blob.core.windows.net/c/manifest.xml?sig=x', { manifestLocation: 'https://m/x' });
  assert.equal(body.toString(), 'artifact-bytes');
  assert.equal(refreshed, 1);
  const art = f.hits.filter((h) => h.url.startsWith('/extensionArtifact'));
  assert.equal(art.length, 2);
  assert.equal(art[1]!.headers['x-ms-artifact-location'], 'https://a.blob.core.windows.net/c/manifest.xml?sig=x');
  assert.equal(art[1]!.headers['x-ms-artifact-manifest-location'], 'https://m/x');
  await hp.putStatus('https://a.blob.core.windows.net/c/status?sig=x', { 'x-ms-blob-type': 'BlockBlob' }, Buffer.from('{"a":1}'));
  const put = f.hits.at(-1)!;
  assert.equal(put.method, 'PUT');
  assert.deepEqual(JSON.parse(put.body), {
    requestUri: 'https://a.blob.core.windows.net/c/status?sig=x',
    headers: [{ headerName: 'x-ms-blob-type', headerValue: 'BlockBlob' }],
    content: Buffer.from('{"a":1}').toString('base64'),
  });
});

test('transport certificate files: key 0600, reused when valid, regenerated when not', async (t) => {
  const lib = libDir(t);
  let made = 0;
  const gen = () => {
    made++;
    return generateTransportCertificate();
  };
  const a = await loadOrCreateTransportCert(lib, gen);
  assert.equal(a.generated, true);
  assert.equal(statSync(join(lib, 'TransportPrivate.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(lib, 'TransportCert.pem')).mode & 0o777, 0o644);
  const b = await loadOrCreateTransportCert(lib, gen);
  assert.equal(b.generated, false);
  assert.equal(b.certPem, a.certPem);
  assert.equal(made, 1);
  // a certificate that does not belong to the key is replaced
  const other = generateTransportCertificate();
  (await import('node:fs')).writeFileSync(join(lib, 'TransportCert.pem'), other.certPem);
  const c = await loadOrCreateTransportCert(lib, gen);
  assert.equal(c.generated, true);
  assert.equal(made, 2);
  // the daemon always regenerates
  const d = await regenerateTransportCert(lib, gen);
  assert.notEqual(d.certPem, c.certPem);
});
