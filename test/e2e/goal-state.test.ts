// waagent -goal-state end to end: the BUILT binary in the sandbox against the fabric emulator, certificates
// encrypted on the fly to the agent's own transport certificate, and every emulator fault leading to the
// documented retry behaviour (docs/protocol.md §2.1) within a bounded time, never a crash. One test sits out the
// real back-off (2 s, 3 s); the others run with scaled retry waits (FAST_RETRIES) and check the attempts, and that
// the run took at least the scaled schedule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSandbox, WAAGENT, type EmulatorHandle, type Sandbox } from '../sandbox/sandbox.ts';
import type { FaultRule, RecordedRequest } from '../fabric/types.ts';
import { FIXTURES } from '../helpers/paths.ts';
import { FAST_RETRIES, scaled } from '../helpers/fast-retries.ts';
import { expectedCertificates } from '../helpers/fixture-certs.ts';

const WIRE = join(FIXTURES, 'tests', 'data', 'wire');
const fixture = (name: string) => readFileSync(join(WIRE, name), 'utf8');
const LIB = '/var/lib/waagent';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  requests: RecordedRequest[];
}

describe('waagent -goal-state against the emulator', () => {
  let sb: Sandbox;
  let emu: EmulatorHandle;
  /** real retry timing */
  let conf: string;
  /** the same with FAST_RETRIES */
  const fastConf = '/etc/waagent-fast-retries.conf';

  before(async () => {
    sb = await createSandbox();
    emu = await sb.startEmulator();
    conf = sb.writeConfig({});
    const extra = Object.entries(FAST_RETRIES).map(([k, v]) => `${k}=${v}\n`);
    sb.writeFile(fastConf, sb.readFile(conf) + extra.join(''));
  });
  after(async () => {
    await sb?.close();
  });

  /** One run with `faults` active from a clean emulator state; returns what the agent and the emulator saw. */
  async function run(faults: FaultRule[] = [], config = fastConf, timeoutMs = 90_000): Promise<Run> {
    await emu.control.reset();
    await emu.setFaults(faults);
    const t0 = Date.now();
    const r = await sb.exec([WAAGENT, '-goal-state', `-configuration-path:${config}`], { timeoutMs });
    const ms = Date.now() - t0;
    return { ...r, ms, requests: await emu.requests() };
  }
  const count = (r: Run, pattern: RegExp) => r.requests.filter((q) => pattern.test(q.path)).length;
  const oneSentence = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
    assert.match(lines[0]!, /^waagent: \S.*$/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    return lines[0]!;
  };

  test('prints the goal state with certificates decrypted from the emulator, and writes Lib.Dir files with modes', async () => {
    const r = await run();
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown> & { certificates: Array<{ thumbprint: string; hasPrivateKey: boolean }> };
    const gs = fixture('goal_state.xml');
    const he = fixture('hosting_env.xml');
    assert.equal(out.incarnation, /<Incarnation>([^<]+)</.exec(gs)![1]);
    assert.equal(out.containerId, /<ContainerId>([^<]+)</.exec(gs)![1]);
    assert.equal(out.roleInstanceId, /<InstanceId>([^<]+)</.exec(gs)![1]);
    assert.equal(out.vmName, /<Incarnation [^>]*instance="([^"]+)"/.exec(he)![1]);
    assert.equal(out.roleName, /<Role [^>]*name="([^"]+)"/.exec(he)![1]);
    assert.equal(out.deploymentName, /<Deployment name="([^"]+)"/.exec(he)![1]);
    const pluginList = /<Plugins>([\s\S]*?)<\/Plugins>/.exec(fixture('ext_conf.xml'))![1]!;
    const plugins = [...pluginList.matchAll(/<Plugin name="([^"]+)" version="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(plugins.length > 0);
    assert.deepEqual(
      (out.extensionHandlers as Array<{ name: string }>).map((h) => h.name),
      plugins,
    );
    assert.equal(out.statusUploadBlobType, /statusBlobType="([^"]+)"/.exec(fixture('ext_conf.xml'))![1]);
    const expected = expectedCertificates();
    assert.deepEqual(
      [...out.certificates].sort((a, b) => a.thumbprint.localeCompare(b.thumbprint)),
      expected,
    );
    // versions, goal state, ExtensionsConfig, HostingEnvironmentConfig, SharedConfig, Certificates
    assert.equal(out.requests, r.requests.length);
    assert.equal(r.requests.length, 6);
    assert.equal(typeof out.elapsedMs, 'number');
    const cert = r.requests.find((q) => /comp=certificates/.test(q.path))!;
    assert.equal(cert.headers['x-ms-cipher-name'], 'AES128_CBC');
    assert.ok(cert.headers['x-ms-guest-agent-public-x509-cert']!.length > 500);
    // files and modes
    const modes = await sb.exec(['sh', '-c', `cd ${LIB} && stat -c '%n %a' *`]);
    const mode = Object.fromEntries(
      modes.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')),
    );
    assert.equal(mode['TransportPrivate.pem'], '600');
    assert.equal(mode['TransportCert.pem'], '644');
    assert.equal(mode['Certificates.xml'], '600');
    assert.equal(mode['SharedConfig.xml'], '644');
    for (const c of expected) {
      assert.ok(mode[`${c.thumbprint}.crt`], `${c.thumbprint}.crt written`);
      if (c.hasPrivateKey) assert.equal(mode[`${c.thumbprint}.prv`], '600');
    }
    // the header carries exactly the certificate in TransportCert.pem
    const pem = sb.readFile(`${LIB}/TransportCert.pem`);
    assert.equal(cert.headers['x-ms-guest-agent-public-x509-cert'], new X509Certificate(pem).raw.toString('base64'));
    // a second run reuses the transport certificate on disk (§10 item 39)
    const again = await run();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(sb.readFile(`${LIB}/TransportCert.pem`), pem);
    const warm = JSON.parse(again.stdout) as { requests: number; elapsedMs: number };
    assert.equal(warm.requests, 6);
    process.stdout.write(
      `# -goal-state with certificates: ${out.requests} requests; first run ${out.elapsedMs} ms in the agent (${r.ms} ms wall, ` +
        `transport key generated), second ${warm.elapsedMs} ms (${again.ms} ms wall)\n`,
    );
  });

  test('503 and 429 are throttling: two retries at the fixed 1 s delay (scaled), then success', async () => {
    for (const status of [503, 429]) {
      const r = await run([{ service: 'wireserver', path: 'comp=goalstate', kind: 'status', status, times: 2 }]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(count(r, /comp=goalstate/), 3);
      assert.ok(r.ms >= scaled(2000) && r.ms < 15_000, `${status}: ${r.ms} ms`);
    }
  });

  test('500 is retried with the real back-off (0.5 s, then Fibonacci 3 s), then success', async () => {
    // The one run here with the protocol's real timing (the default Debug.RetryDelayPercent=100).
    const r = await run([{ service: 'wireserver', path: 'type=hostingEnvironmentConfig', kind: 'status', status: 500, times: 2 }], conf);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(count(r, /type=hostingEnvironmentConfig/), 3);
    assert.ok(r.ms >= 3500 && r.ms < 20_000, `${r.ms} ms`);
  });

  test('500 forever: 6 attempts over 29.5 s of back-off (scaled), then exit 1 with one sentence', async () => {
    const r = await run([{ service: 'wireserver', path: 'comp=versions', kind: 'status', status: 500 }]);
    assert.equal(r.code, 1);
    assert.match(oneSentence(r.stderr), /comp=versions failed after 6 attempts: HTTP status 500/);
    assert.equal(count(r, /comp=versions/), 6);
    assert.equal(r.requests.length, 6);
    // the whole schedule was waited (0.5 + 3 + 5 + 8 + 13 s, scaled), and scaled (the real one takes 29.5 s)
    assert.ok(r.ms >= scaled(29_500) && r.ms < 25_000, `${r.ms} ms`);
  });

  test('a reset connection and a truncated body are retried', async () => {
    const r = await run([
      { service: 'wireserver', path: 'comp=versions', kind: 'reset', times: 1 },
      { service: 'wireserver', path: 'type=sharedConfig', kind: 'truncate', times: 1 },
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(count(r, /comp=versions/), 2);
    assert.equal(count(r, /type=sharedConfig/), 2);
  });

  test('a delay beyond the 10 s timeout is abandoned and retried', async () => {
    const r = await run([{ service: 'wireserver', path: 'type=extensionsConfig', kind: 'delay', ms: 11_000, times: 1 }]);
    assert.equal(r.code, 0, r.stderr);
    // the emulator records the delayed request when its (late) answer goes out, 11 s after it came in
    let seen: RecordedRequest[] = [];
    for (const until = Date.now() + 5000; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 100))) {
      seen = (await emu.requests()).filter((q) => /type=extensionsConfig/.test(q.path));
      if (seen.length >= 2) break;
    }
    assert.equal(seen.length, 2);
    assert.equal(seen.filter((q) => q.fault === 'delay').length, 1);
    // the attempt timeout is real (10 s); the back-off after it is scaled
    assert.ok(r.ms >= 10_000 + scaled(500) && r.ms < 25_000, `${r.ms} ms`);
  });

  test('410 on a document: the goal state is fetched again once, then one clear error', async () => {
    const r = await run([{ service: 'wireserver', path: 'type=sharedConfig', kind: 'status', status: 410 }]);
    assert.equal(r.code, 1);
    assert.match(oneSentence(r.stderr), /answered 410: the goal state is stale/);
    assert.equal(count(r, /comp=goalstate/), 2);
    assert.equal(count(r, /type=sharedConfig/), 2);
    assert.ok(r.ms < 10_000);
  });

  test('400 InvalidContainerConfiguration is handled like 410', async () => {
    const r = await run([
      {
        service: 'wireserver',
        path: 'type=hostingEnvironmentConfig',
        kind: 'status',
        status: 400,
        body: '<Error>InvalidContainerConfiguration</Error>',
        times: 1,
      },
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(count(r, /comp=goalstate/), 2);
  });

  test('a malformed goal state fails at once with an XML error, not a crash', async () => {
    const r = await run([{ service: 'wireserver', path: 'comp=goalstate', kind: 'malformed' }]);
    assert.equal(r.code, 1);
    assert.match(oneSentence(r.stderr), /goal state/i);
    assert.equal(count(r, /comp=goalstate/), 1);
  });

  test('an oversized body is cut off at the cap and not retried', async () => {
    const r = await run([{ service: 'wireserver', path: 'type=extensionsConfig', kind: 'oversize', mib: 64 }]);
    assert.equal(r.code, 1);
    assert.match(oneSentence(r.stderr), /larger than the 4194304-byte limit/);
    assert.equal(count(r, /type=extensionsConfig/), 1);
    assert.ok(r.ms < 10_000, `${r.ms} ms`);
  });

  test('a failed AES128_CBC certificates request falls back to DES_EDE3_CBC', async () => {
    const r = await run([{ service: 'wireserver', path: 'comp=certificates', kind: 'status', status: 404, times: 1 }]);
    assert.equal(r.code, 0, r.stderr);
    const certs = r.requests.filter((q) => /comp=certificates/.test(q.path));
    assert.deepEqual(
      certs.map((q) => q.headers['x-ms-cipher-name']),
      ['AES128_CBC', 'DES_EDE3_CBC'],
    );
    const out = JSON.parse(r.stdout) as { certificates: unknown[] };
    assert.deepEqual(out.certificates.length, expectedCertificates().length);
  });
});
