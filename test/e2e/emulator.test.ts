// The fabric emulator (test/fabric/): serves the recorded documents, records requests, applies every fault kind,
// encrypts certificates to the agent's transport certificate, rewrites addresses, refuses non-loopback binds.
// Driven with curl inside a sandbox, as the agent will be.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSandbox, EMULATOR, type EmulatorHandle, type Sandbox } from '../sandbox/sandbox.ts';
import { DATA, rewriteAddress, setIncarnation } from '../fabric/scenario.ts';
import { startFabric } from '../fabric/server.ts';
import { mergePfx } from '../fabric/pkcs12.ts';

const fixture = (rel: string) => readFileSync(join(DATA, rel), 'utf8');
const GS_PATH = '/machine/865a6683-91d8-450f-99ae/bc8b9d47%2Db5ed%2D4704%2D85d9%2Dfd74cc967ec2.%5Fcanary';

interface Response {
  curl: number;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** curl inside the sandbox; the response split into status, headers and body. */
async function curl(
  sb: Sandbox,
  url: string,
  o: { method?: string; headers?: Record<string, string>; data?: string; args?: string[] } = {},
): Promise<Response> {
  const argv = ['curl', '-sS', '-i', '--max-time', '20', '-X', o.method ?? 'GET'];
  for (const [k, v] of Object.entries(o.headers ?? {})) argv.push('-H', `${k}: ${v}`);
  if (o.data !== undefined) argv.push('--data-binary', '@-');
  const r = await sb.exec([...argv, ...(o.args ?? []), url], { input: o.data ?? '' });
  const sep = r.stdout.indexOf('\r\n\r\n');
  const head = sep < 0 ? r.stdout : r.stdout.slice(0, sep);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { curl: r.code, status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0), headers, body: sep < 0 ? '' : r.stdout.slice(sep + 4) };
}

/** A transport certificate and key made like the agent makes them (§2.8), and the header value. */
async function transportCert(sb: Sandbox, name: string): Promise<{ key: string; cert: string; header: string }> {
  const key = join(sb.dir, `${name}.key`);
  const cert = join(sb.dir, `${name}.crt`);
  const r = await sb.exec([
    'openssl',
    'req',
    '-x509',
    '-nodes',
    '-subj',
    '/CN=LinuxTransport',
    '-days',
    '730',
    '-newkey',
    'rsa:2048',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const header = readFileSync(cert, 'utf8')
    .split('\n')
    .filter((l) => l && !l.includes('----'))
    .join('');
  return { key, cert, header };
}

/** Decrypts a CertificateFile with openssl cms (test-only) and lists the PEM blocks of the PFX inside. */
async function openCertificateFile(sb: Sandbox, xml: string, t: { key: string; cert: string }): Promise<{ cipher: string; pem: string }> {
  const data = /<Data>([^<]*)<\/Data>/.exec(xml)![1]!;
  const p7 = join(sb.dir, 'certs.p7');
  sb.writeFile(p7, Buffer.from(data.replace(/\s/g, ''), 'base64'));
  const printed = await sb.exec(['openssl', 'cms', '-cmsout', '-print', '-inform', 'DER', '-in', p7]);
  const cipher = /contentEncryptionAlgorithm:\s*\n\s*algorithm: (\S+)/.exec(printed.stdout)?.[1] ?? '?';
  const pfx = join(sb.dir, 'certs.pfx');
  const d = await sb.exec(['openssl', 'cms', '-decrypt', '-inform', 'DER', '-in', p7, '-inkey', t.key, '-recip', t.cert, '-out', pfx]);
  assert.equal(d.code, 0, d.stderr);
  // no -nomacver: the MAC must verify with the empty password
  const p = await sb.exec(['openssl', 'pkcs12', '-nodes', '-password', 'pass:', '-in', pfx]);
  assert.equal(p.code, 0, p.stderr);
  return { cipher, pem: p.stdout };
}

function thumbprints(pem: string): string[] {
  const out: string[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)) {
    const r = spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha1'], { input: m[0], encoding: 'utf8' });
    out.push(r.stdout.split('=')[1]!.trim().replaceAll(':', ''));
  }
  return out.sort();
}

describe('emulator with the default scenario', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  let ws: string;
  const hp = () => `127.0.0.1:${emu.hostPluginPort}`;

  before(async () => {
    sb = await createSandbox();
    sb.writeFile('/srv/blobs/container/artifact.zip', 'ZIPDATA');
    sb.writeFile('/srv/blobs/manifest_of_ga.xml', '<PluginVersionManifest/>');
    emu = await sb.startEmulator(['--blob-dir', '/srv/blobs', '--record', join('/tmp', 'requests.jsonl')]);
    ws = emu.wireServer;
  });
  after(() => sb.close());
  beforeEach(() => emu.control.reset());

  test('serves versions, the goal state and its sub-documents verbatim from the fixtures', async () => {
    const cases: [string, string][] = [
      ['/?comp=versions', 'wire/version_info.xml'],
      ['/machine/?comp=goalstate', 'wire/goal_state.xml'],
      [`${GS_PATH}?comp=config&type=hostingEnvironmentConfig&incarnation=1`, 'wire/hosting_env.xml'],
      [`${GS_PATH}?comp=config&type=sharedConfig&incarnation=1`, 'wire/shared_config.xml'],
      [`${GS_PATH}?comp=config&type=extensionsConfig&incarnation=1`, 'wire/ext_conf.xml'],
    ];
    for (const [path, file] of cases) {
      const r = await curl(sb, `http://${ws}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.body, fixture(file), path);
    }
    // the default scenario has no RemoteAccess document, and FullConfig is never served
    assert.equal((await curl(sb, `http://${ws}/remoteaccessinfouri/`)).status, 404);
    assert.equal((await curl(sb, `http://${ws}${GS_PATH}?comp=config&type=fullConfig&incarnation=1`)).status, 404);
  });

  test('records health reports, and answers telemetry and HealthService', async () => {
    const health =
      '<?xml version="1.0" encoding="utf-8"?><Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>c6d5526c</ContainerId>' +
      '<RoleInstanceList><Role><InstanceId>b61f.MachineRole_IN_0</InstanceId><Health><State>NotReady</State><Details><SubStatus>ProvisioningFailed</SubStatus>' +
      '<Description>bad &amp; worse</Description></Details></Health></Role></RoleInstanceList></Container></Health>';
    const r = await curl(sb, `http://${ws}/machine?comp=health`, {
      method: 'POST',
      data: health,
      headers: { 'Content-Type': 'text/xml;charset=utf-8' },
    });
    assert.equal(r.status, 200);
    const [report, ...rest] = await emu.healthReports();
    assert.deepEqual(rest, []);
    assert.deepEqual(
      { ...report!, time: undefined },
      {
        time: undefined,
        incarnation: '1',
        containerId: 'c6d5526c',
        instanceId: 'b61f.MachineRole_IN_0',
        state: 'NotReady',
        subStatus: 'ProvisioningFailed',
        description: 'bad & worse',
        body: health,
      },
    );
    assert.equal((await curl(sb, `http://${ws}/machine?comp=telemetrydata`, { method: 'POST', data: '<TelemetryData/>' })).status, 200);
    const observation =
      '{"Api":"reporttargethealth","Version":"1.0","Source":"WALinuxAgent","Observations":[{"ObservationName":"GuestAgentPluginHeartbeat","IsHealthy":true,"Description":"","Value":""}]}';
    assert.equal((await curl(sb, `http://${ws}/HealthService`, { method: 'POST', data: observation })).status, 200);
    assert.equal(
      (await curl(sb, `http://${ws}/HealthService`, { method: 'POST', data: '{"Api":"reporttargethealth"}' })).status,
      400,
      'no Observations',
    );
    assert.deepEqual(
      (await emu.control.healthObservations()).map((r) => r.observations.length),
      [1, 0],
    );
    assert.equal((await curl(sb, `http://${ws}/no/such/thing`)).status, 404);
  });

  test('records every request (service, method, path, headers, body, status) and appends it to the --record file', async () => {
    await curl(sb, `http://${ws}/machine/?comp=goalstate`, { headers: { 'x-ms-version': '2012-11-30' } });
    await curl(sb, `http://${hp()}/status`, { method: 'PUT', data: 'not json' });
    const reqs = await emu.requests();
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.service, 'wireserver');
    assert.equal(reqs[0]!.method, 'GET');
    assert.equal(reqs[0]!.path, '/machine/?comp=goalstate');
    assert.equal(reqs[0]!.headers['x-ms-version'], '2012-11-30');
    assert.equal(reqs[0]!.status, 200);
    assert.equal(reqs[0]!.port, Number(ws.split(':')[1]));
    assert.deepEqual([reqs[1]!.service, reqs[1]!.method, reqs[1]!.body, reqs[1]!.status], ['hostplugin', 'PUT', 'not json', 400]);
    const lines = sb
      .readFile('/tmp/requests.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string });
    assert.deepEqual(
      lines.slice(-2).map((l) => l.path),
      ['/machine/?comp=goalstate', '/status'],
    );
  });

  test('HostGAPlugin: versions, health, vmSettings with ETag and 304, artifacts from the blob store', async () => {
    assert.equal((await curl(sb, `http://${hp()}/versions`)).body, '["2015-09-01"]');
    assert.equal((await curl(sb, `http://${hp()}/health`)).status, 200);
    const vm = await curl(sb, `http://${hp()}/vmSettings`);
    assert.equal(vm.status, 200);
    assert.equal(vm.body, fixture('hostgaplugin/vm_settings.json'));
    assert.ok(vm.headers.etag);
    const again = await curl(sb, `http://${hp()}/vmSettings`, { headers: { 'If-None-Match': vm.headers.etag! } });
    assert.equal(again.status, 304);
    assert.equal((await curl(sb, `http://${hp()}/vmSettings`, { headers: { 'If-None-Match': 'other' } })).status, 200);
    const art = await curl(sb, `http://${hp()}/extensionArtifact`, {
      headers: { 'x-ms-artifact-location': 'https://acct.blob.core.windows.net/container/artifact.zip?sig=x' },
    });
    assert.deepEqual([art.status, art.body], [200, 'ZIPDATA']);
    const ga = await curl(sb, `http://${hp()}/extensionArtifact`, {
      headers: { 'x-ms-artifact-location': 'http://mock-goal-state/manifest_of_ga.xml' },
    });
    assert.deepEqual([ga.status, ga.body], [200, '<PluginVersionManifest/>']);
    assert.equal((await curl(sb, `http://${hp()}/extensionArtifact`)).status, 400);
    assert.equal(
      (await curl(sb, `http://${hp()}/extensionArtifact`, { headers: { 'x-ms-artifact-location': 'http://x/missing.zip' } })).status,
      404,
    );
  });

  test('status uploads: HGAP PUT /status (BlockBlob and PageBlob) is decoded, direct blob PUTs are recorded', async () => {
    const status = '{"version":"1.1","aggregateStatus":{}}';
    const sas = `http://${emu.blob}/vhds/vm.status?sv=2014-02-14&sig=abc`;
    const block = {
      content: Buffer.from(status).toString('base64'),
      headers: [
        { headerName: 'x-ms-blob-type', headerValue: 'BlockBlob' },
        { headerName: 'x-ms-version', headerValue: '2014-02-14' },
      ],
      requestUri: sas,
    };
    assert.equal((await curl(sb, `http://${hp()}/status`, { method: 'PUT', data: JSON.stringify(block) })).status, 200);
    // §6.2 page blob through HGAP: JSON padded with spaces to 512, a create request, then a page write
    const padded = status.padEnd(512, ' ');
    const create = {
      headers: [
        { headerName: 'x-ms-blob-type', headerValue: 'PageBlob' },
        { headerName: 'x-ms-blob-content-length', headerValue: '512' },
      ],
      requestUri: sas.replace('vm.status', 'page.status'),
    };
    const page = {
      content: Buffer.from(padded).toString('base64'),
      headers: [
        { headerName: 'x-ms-range', headerValue: 'bytes=0-511' },
        { headerName: 'x-ms-page-write', headerValue: 'update' },
      ],
      requestUri: `${create.requestUri}&comp=page`,
    };
    assert.equal((await curl(sb, `http://${hp()}/status`, { method: 'PUT', data: JSON.stringify(create) })).status, 200);
    assert.equal((await curl(sb, `http://${hp()}/status`, { method: 'PUT', data: JSON.stringify(page) })).status, 200);
    const direct = await curl(sb, `http://${emu.blob}/vhds/direct.status?sig=x`, {
      method: 'PUT',
      data: status,
      headers: { 'x-ms-blob-type': 'BlockBlob' },
    });
    assert.equal(direct.status, 201);
    const bad = await curl(sb, `http://${emu.blob}/vhds/bad.status`, { method: 'PUT', data: status });
    assert.deepEqual([bad.status, bad.body], [400, 'MissingRequiredHeader: x-ms-blob-type must be BlockBlob or PageBlob\n']);
    const uploads = await emu.statusUploads();
    assert.deepEqual(
      uploads.map((u) => [u.via, u.blob, u.blobType, u.operation, u.content]),
      [
        ['hostplugin', '/vhds/vm.status', 'BlockBlob', 'create', status],
        ['hostplugin', '/vhds/page.status', 'PageBlob', 'create', ''],
        ['hostplugin', '/vhds/page.status', 'PageBlob', 'page', status],
        ['blob', '/vhds/direct.status', 'BlockBlob', 'create', status],
      ],
    );
    assert.equal((await curl(sb, `http://${emu.blob}/vhds/direct.status`)).body, status);
  });

  test('IMDS answers only with Metadata: true (any case), from imds/valid.json', async () => {
    const valid = JSON.parse(fixture('imds/valid.json')) as { compute: unknown };
    const full = await curl(sb, `http://${emu.imds}/metadata/instance?api-version=2018-02-01`, { headers: { Metadata: 'True' } });
    assert.equal(full.status, 200);
    assert.deepEqual(JSON.parse(full.body), valid);
    const compute = await curl(sb, `http://${emu.imds}/metadata/instance/compute?api-version=2018-02-01`, {
      headers: { Metadata: 'true' },
    });
    assert.deepEqual(JSON.parse(compute.body), valid.compute);
    const missing = await curl(sb, `http://${emu.imds}/metadata/instance`);
    assert.equal(missing.status, 400);
    assert.match(missing.body, /Required metadata header not specified/);
    assert.equal((await curl(sb, `http://${emu.imds}/metadata/instance`, { headers: { Metadata: 'false' } })).status, 400);
  });

  test('certificates are encrypted on the fly to the transport certificate, with the cipher asked for', async () => {
    const t = await transportCert(sb, 'transport');
    const url = `http://${ws}${GS_PATH}?comp=certificates&incarnation=1`;
    for (const [name, expected] of [
      ['AES128_CBC', 'aes-128-cbc'],
      ['DES_EDE3_CBC', 'des-ede3-cbc'],
    ] as const) {
      const r = await curl(sb, url, { headers: { 'x-ms-guest-agent-public-x509-cert': t.header, 'x-ms-cipher-name': name } });
      assert.equal(r.status, 200);
      assert.match(r.body, /<Format>Pkcs7BlobWithPfxContents<\/Format>/);
      assert.match(r.body, /<Incarnation>1<\/Incarnation>/);
      const { cipher, pem } = await openCertificateFile(sb, r.body, t);
      assert.equal(cipher, expected);
      // the PFX of wire/certs.xml: one key and two certificates, one of them named by ext_conf.xml (§9)
      assert.equal(pem.match(/BEGIN PRIVATE KEY/g)?.length, 1);
      assert.ok(thumbprints(pem).includes('F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9'), pem);
      assert.equal(thumbprints(pem).length, 2);
    }
    // another agent's transport key cannot open it
    const other = await transportCert(sb, 'other');
    const r = await curl(sb, url, { headers: { 'x-ms-guest-agent-public-x509-cert': t.header, 'x-ms-cipher-name': 'AES128_CBC' } });
    sb.writeFile(join(sb.dir, 'c.p7'), Buffer.from(/<Data>([^<]*)</.exec(r.body)![1]!.replace(/\s/g, ''), 'base64'));
    const d = await sb.exec([
      'openssl',
      'cms',
      '-decrypt',
      '-inform',
      'DER',
      '-in',
      join(sb.dir, 'c.p7'),
      '-inkey',
      other.key,
      '-recip',
      other.cert,
    ]);
    assert.notEqual(d.code, 0);
  });

  test('a certificates request without the transport certificate, or with a bad one or cipher, gets 400', async () => {
    const url = `http://${ws}${GS_PATH}?comp=certificates&incarnation=1`;
    const none = await curl(sb, url, { headers: { 'x-ms-cipher-name': 'AES128_CBC' } });
    assert.deepEqual([none.status, none.body], [400, 'the request has no x-ms-guest-agent-public-x509-cert header\n']);
    const bad = await curl(sb, url, {
      headers: { 'x-ms-guest-agent-public-x509-cert': 'bm90IGEgY2VydA==', 'x-ms-cipher-name': 'AES128_CBC' },
    });
    assert.deepEqual([bad.status, bad.body], [400, 'x-ms-guest-agent-public-x509-cert does not hold a DER X.509 certificate\n']);
    const t = await transportCert(sb, 'transport2');
    const cipher = await curl(sb, url, { headers: { 'x-ms-guest-agent-public-x509-cert': t.header, 'x-ms-cipher-name': 'RC4' } });
    assert.deepEqual([cipher.status, cipher.body], [400, 'unsupported x-ms-cipher-name "RC4" (AES128_CBC or DES_EDE3_CBC)\n']);
  });

  test('the control API bumps the incarnation and switches the scenario', async () => {
    assert.deepEqual(await emu.control.goalState({ bumpIncarnation: true }), { scenario: 'default', incarnation: '2' });
    const gs = await curl(sb, `http://${ws}/machine/?comp=goalstate`);
    assert.match(gs.body, /<Incarnation>2<\/Incarnation>/);
    assert.ok(!/incarnation=1/.test(gs.body) && /incarnation=2/.test(gs.body));
    const dir = join(DATA, 'hibernate', 'goal_state_2');
    assert.equal((await emu.control.goalState({ scenario: dir })).scenario, dir);
    assert.equal((await curl(sb, `http://${ws}/machine/?comp=goalstate`)).body, readFileSync(join(dir, 'GoalState.xml'), 'utf8'));
    assert.equal(
      (await curl(sb, `http://${ws}/x?comp=config&type=extensionsConfig`)).body,
      readFileSync(join(dir, 'ExtensionsConfig.xml'), 'utf8'),
    );
    assert.equal(
      (await curl(sb, `http://127.0.0.1:${emu.hostPluginPort}/vmSettings`)).body,
      readFileSync(join(dir, 'VmSettings.json'), 'utf8'),
    );
    // the tenant certificates of this scenario are recovered with hibernate/TransportPrivate.pem and re-encrypted
    const t = await transportCert(sb, 'transport3');
    const r = await curl(sb, `http://${ws}/x?comp=certificates`, {
      headers: { 'x-ms-guest-agent-public-x509-cert': t.header, 'x-ms-cipher-name': 'AES128_CBC' },
    });
    assert.equal(r.status, 200);
    const { pem } = await openCertificateFile(sb, r.body, t);
    const summary = JSON.parse(readFileSync(join(dir, 'Certificates.json'), 'utf8')) as { thumbprint: string }[];
    assert.deepEqual(thumbprints(pem), summary.map((c) => c.thumbprint).sort());
    await assert.rejects(emu.control.goalState({ scenario: '/no/such/dir' }), /scenario directory \/no\/such\/dir does not exist/);
    await assert.rejects(emu.control.goalState({ incarnation: 'x' }), /"incarnation" must be a non-negative integer/);
  });
});

describe('fault injection', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  const gs = () => `http://${emu.wireServer}/machine/?comp=goalstate`;

  before(async () => {
    sb = await createSandbox();
    emu = await sb.startEmulator();
  });
  after(() => sb.close());
  beforeEach(() => emu.control.reset());

  test('status: answers the given status `times` times, then normally; only on matching service and path', async () => {
    await emu.setFaults([{ kind: 'status', service: 'wireserver', path: 'comp=goalstate', status: 503, times: 2 }]);
    assert.equal((await curl(sb, `http://${emu.wireServer}/?comp=versions`)).status, 200);
    assert.equal((await curl(sb, `http://${emu.imds}/machine/?comp=goalstate`)).status, 404); // another service
    assert.equal((await curl(sb, gs())).status, 503);
    assert.equal((await curl(sb, gs())).status, 503);
    assert.equal((await curl(sb, gs())).status, 200);
    const recorded = (await emu.requests()).filter((r) => r.path === '/machine/?comp=goalstate' && r.service === 'wireserver');
    assert.deepEqual(
      recorded.map((r) => [r.status, r.fault ?? null]),
      [
        [503, 'status'],
        [503, 'status'],
        [200, null],
      ],
    );
    await emu.setFaults([
      { kind: 'status', status: 400, body: '<Error><Code>InvalidContainerConfiguration</Code></Error>', path: 'goalstate' },
    ]);
    const r = await curl(sb, gs());
    assert.deepEqual([r.status, r.body], [400, '<Error><Code>InvalidContainerConfiguration</Code></Error>']);
    await emu.setFaults([{ kind: 'status', status: 410, service: 'hostplugin' }]);
    assert.equal((await curl(sb, `http://127.0.0.1:${emu.hostPluginPort}/vmSettings`)).status, 410);
  });

  test('delay holds the answer back, then sends it', async () => {
    await emu.setFaults([{ kind: 'delay', ms: 700, path: 'goalstate' }]);
    const started = Date.now();
    const r = await curl(sb, gs());
    assert.ok(Date.now() - started >= 700);
    assert.equal(r.body, fixture('wire/goal_state.xml'));
  });

  test('reset destroys the connection without an answer', async () => {
    await emu.setFaults([{ kind: 'reset', path: 'goalstate', times: 1 }]);
    const r = await curl(sb, gs());
    assert.equal(r.curl, 56, 'curl: failure receiving data (connection reset)');
    assert.equal(r.status, 0);
    assert.equal((await emu.requests())[0]!.status, 0);
    assert.equal((await curl(sb, gs())).status, 200);
  });

  test('truncate sends half of the declared Content-Length, then closes', async () => {
    await emu.setFaults([{ kind: 'truncate', path: 'goalstate' }]);
    const r = await curl(sb, gs());
    assert.equal(r.curl, 18, 'curl: partial file');
    const full = Buffer.byteLength(fixture('wire/goal_state.xml'));
    assert.equal(Number(r.headers['content-length']), full);
    assert.equal(Buffer.byteLength(r.body), Math.floor(full / 2));
  });

  test('malformed sends garbage instead of the document', async () => {
    await emu.setFaults([{ kind: 'malformed', service: 'hostplugin' }]);
    const r = await curl(sb, `http://127.0.0.1:${emu.hostPluginPort}/vmSettings`);
    assert.equal(r.status, 200);
    assert.throws(() => JSON.parse(r.body));
    assert.ok(!r.body.includes('<?xml') && r.body.length > 0);
  });

  test('oversize streams N MiB', async () => {
    await emu.setFaults([{ kind: 'oversize', mib: 3, path: 'goalstate' }]);
    const r = await sb.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', gs()]);
    assert.equal(r.stdout, `200 ${3 * 1024 * 1024}`);
  });

  test('slow drips the document byte by byte', async () => {
    await emu.setFaults([{ kind: 'slow', bytes: 100, ms: 40, path: 'comp=versions' }]);
    const started = Date.now();
    const r = await curl(sb, `http://${emu.wireServer}/?comp=versions`);
    const body = fixture('wire/version_info.xml');
    assert.equal(r.body, body);
    assert.ok(Date.now() - started >= Math.floor(Buffer.byteLength(body) / 100) * 40);
  });

  test('bad fault rules are refused with a clear error', async () => {
    await assert.rejects(
      emu.setFaults([{ kind: 'explode' as 'reset' }]),
      /fault kind must be one of delay, reset, status, truncate, malformed, oversize, slow, not "explode"/,
    );
    await assert.rejects(emu.setFaults([{ kind: 'status' }]), /a status fault needs "status" between 100 and 599/);
    await assert.rejects(emu.setFaults([{ kind: 'reset', path: '(' }]), /fault path "\(" is not a valid regular expression/);
    await assert.rejects(
      emu.setFaults([{ kind: 'reset', service: 'dns' as 'imds' }]),
      /fault service must be one of wireserver, hostplugin, imds, blob/,
    );
  });
});

describe('emulator command line', () => {
  const node = (args: string[]) => spawnSync(process.execPath, [EMULATOR, ...args], { encoding: 'utf8', timeout: 30_000 });

  test('--help prints the usage and exits 0; a bad option exits 2 with a clear message', () => {
    const help = node(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: node test\/fabric\/emulator.ts/);
    const bad = node(['--no-such-option']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^emulator: Unknown option '--no-such-option'/);
    const fault = node(['--fault', '{"kind":"status"}']);
    assert.equal(fault.status, 2);
    assert.match(fault.stderr, /^emulator: --fault \{"kind":"status"\}: a status fault needs "status" between 100 and 599/);
    assert.match(node(['--wireserver', 'nope']).stderr, /^emulator: --wireserver needs HOST:PORT or PORT, not "nope"/);
  });

  test('refuses to listen on a non-loopback address', async () => {
    const r = node(['--wireserver', '0.0.0.0:0']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'emulator: refusing to listen on non-loopback address 0.0.0.0 for wireserver (use --allow-any-address)\n');
    await assert.rejects(
      startFabric({ imds: { host: '10.0.0.1', port: 0 } }),
      /refusing to listen on non-loopback address 10\.0\.0\.1 for imds/,
    );
  });

  test('a scenario without a goal state, or an unknown document name, is refused', () => {
    const r = node(['--scenario', join(DATA, 'imds')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /has no goal state \(goal_state\.xml or GoalState\.xml\)/);
    assert.match(node(['--doc', 'bogus=/etc/passwd']).stderr, /--doc needs NAME=FILE with NAME one of versions, goalState/);
  });
});

describe('emulator options', () => {
  test('--rewrite-address points the documents at the emulator, and those URLs work', async () => {
    const sb = await createSandbox();
    try {
      const emu = await sb.startEmulator(['--wireserver', '127.0.0.1:80', '--rewrite-address', '127.0.0.1', '--no-vm-settings']);
      const gs = (await curl(sb, 'http://127.0.0.1/machine/?comp=goalstate')).body;
      assert.ok(!gs.includes('168.63.129.16'));
      assert.equal(gs, fixture('wire/goal_state.xml').replaceAll('168.63.129.16:80', '127.0.0.1:80'));
      const url = /<HostingEnvironmentConfig>([^<]+)</.exec(gs)![1]!.replaceAll('&amp;', '&');
      assert.equal((await curl(sb, url)).body, fixture('wire/hosting_env.xml'));
      // --no-vm-settings: a HostGAPlugin without Fast Track
      assert.equal((await curl(sb, `http://127.0.0.1:${emu.hostPluginPort}/vmSettings`)).status, 404);
    } finally {
      await sb.close();
    }
  });

  test('rewriteAddress handles the :80, bare and HostGAPlugin :32526 forms; setIncarnation changes element and URLs', () => {
    const text = 'http://168.63.129.16:80/a http://168.63.129.16/b http://168.63.129.16:32526/status';
    assert.equal(
      rewriteAddress(text, '127.0.0.1', 8080, 4000),
      'http://127.0.0.1:8080/a http://127.0.0.1:8080/b http://127.0.0.1:4000/status',
    );
    assert.equal(rewriteAddress(text, '10.1.1.1', 80, 32526), 'http://10.1.1.1:80/a http://10.1.1.1/b http://10.1.1.1:32526/status');
    assert.equal(
      setIncarnation('<Incarnation>1</Incarnation><U>x?comp=config&amp;incarnation=1</U>', '7'),
      '<Incarnation>7</Incarnation><U>x?comp=config&amp;incarnation=7</U>',
    );
  });

  test('--generate-certs makes N certificates with their keys in a legacy 3DES/SHA-1 PFX with an empty password', async () => {
    const sb = await createSandbox();
    try {
      const emu = await sb.startEmulator(['--generate-certs', '3']);
      const t = await transportCert(sb, 't');
      const r = await curl(sb, `http://${emu.wireServer}/x?comp=certificates`, {
        headers: { 'x-ms-guest-agent-public-x509-cert': t.header, 'x-ms-cipher-name': 'DES_EDE3_CBC' },
      });
      assert.equal(r.status, 200);
      const { cipher, pem } = await openCertificateFile(sb, r.body, t);
      assert.equal(cipher, 'des-ede3-cbc');
      assert.equal(pem.match(/BEGIN PRIVATE KEY/g)?.length, 3);
      assert.equal(thumbprints(pem).length, 3);
      assert.ok(!thumbprints(pem).includes('F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9'));
      const info = await sb.exec(['sh', '-c', `openssl pkcs12 -info -noout -password pass: -in ${join(sb.dir, 'certs.pfx')} 2>&1`]);
      assert.match(info.stdout, /MAC: sha1/);
      assert.match(info.stdout, /pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.ok(!/AES|PBES2/.test(info.stdout), info.stdout);
    } finally {
      await sb.close();
    }
  });

  test('a Certificates document that does not decrypt is refused at start-up, or served as recorded with --certs-verbatim', async () => {
    const incorrect = join(DATA, 'wire', 'incorrect-certs.xml');
    const loop = { host: '127.0.0.1', port: 0 };
    const ports = { wireServer: loop, hostPlugin: loop, imds: loop, blob: loop };
    await assert.rejects(
      startFabric({ ...ports, docs: { certificates: incorrect } }),
      /^Error: the Certificates document of scenario default does not decrypt with its transport key \(openssl cms failed .*\); use --certs-verbatim$/,
    );
    const fabric = await startFabric({ ...ports, docs: { certificates: incorrect }, certsVerbatim: true });
    try {
      const url = `http://127.0.0.1:${fabric.ports.wireServer}/x?comp=certificates`;
      assert.equal((await fetch(url)).status, 400);
      const header = readFileSync(join(DATA, 'wire', 'trans_cert'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.includes('----'))
        .join('');
      const r = await fetch(url, { headers: { 'x-ms-guest-agent-public-x509-cert': header, 'x-ms-cipher-name': 'AES128_CBC' } });
      assert.equal(await r.text(), readFileSync(incorrect, 'utf8'));
    } finally {
      await fabric.close();
    }
  });

  test('mergePfx rejects data that is not a PFX', () => {
    assert.throws(() => mergePfx([Buffer.from([0x30, 0x05, 0x02])]), /truncated DER element in PKCS#12 data/);
  });
});
