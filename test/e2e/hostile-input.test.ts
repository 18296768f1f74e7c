// Hostile input from the platform's documents and from extension packages (issue 11), with the BUILT binary in the
// namespace sandbox against the fabric emulator: each test plants what an attacker would and asserts the safe
// outcome from outside (the file that must not exist does not, the mode is masked, the status says why).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FIXTURES } from '../helpers/paths.ts';
import { WAAGENT } from '../sandbox/sandbox.ts';
import {
  ExtensionsHarness,
  extensionsConfig,
  handlerEntries,
  handlerZip,
  LIB,
  pluginManifest,
  type Json,
  type PluginSpec,
  statusSnippet,
} from '../helpers/extensions.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const STATUS_BLOB = 'https://acct.blob.core.windows.net/vhds/vm.status?sv=2020-01-01&sig=SECRETSIG';

describe('hostile names and packages from the platform', () => {
  let x: ExtensionsHarness;
  let inc = 0;
  const manifestUrl = (name: string) => x.blob(`/manifests/${encodeURIComponent(name)}.xml`);
  const pkgUrl = (name: string) => x.blob(`/pkgs/${encodeURIComponent(name)}.zip`);
  const plugin = (name: string, version = '1.0.0', extra: Partial<PluginSpec> = {}): PluginSpec => ({
    name,
    version,
    state: 'enabled',
    manifestUrl: manifestUrl(name),
    seqNo: 0,
    ...extra,
  });
  const serve = (plugins: PluginSpec[]) =>
    x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins, statusBlob: STATUS_BLOB }) }, inc);
  const entryOf = (doc: Json, name: string) => handlerEntries(doc).find((h: Json) => h.handlerName === name);

  before(async () => {
    x = await ExtensionsHarness.start();
  });
  after(() => x?.close());

  /** Registers a manifest listing `version` and the package for `name`, so a download would succeed if attempted. */
  async function offer(name: string, version: string, zip: Buffer): Promise<void> {
    await x.register({ [manifestUrl(name)]: pluginManifest([{ version, uris: [pkgUrl(name)] }]), [pkgUrl(name)]: zip });
  }

  // Upstream (2.15) downloads "../../../etc/advpwn" to /etc/advpwn__1.0.0.zip, unpacks and runs it from
  // /etc/advpwn-1.0.0/ and makes /etc/advpwn/ as its log folder (issue 11 finding 3).
  test('handler names and versions that climb out of Lib.Dir: invalid with a clear status, nothing written, the others run', async () => {
    const good = 'Test.Good';
    await offer(good, '1.0.0', handlerZip({ name: good, version: '1.0.0' }));
    await offer('../../../etc/advpwn', '1.0.0', handlerZip({ name: 'Adv.Pwn', version: '1.0.0' }));
    await offer('Test.Ver', '1.0/../../../../etc/verpwn', handlerZip({ name: 'Test.Ver', version: '1.0' }));
    const r = await (async () => {
      await serve([plugin(good), plugin('../../../etc/advpwn'), plugin('Test.Ver', '1.0/../../../../etc/verpwn')]);
      return x.once();
    })();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`install ${good} 1.0.0 seq=0 uninstall=NOT_RUN from=`, `enable ${good} 1.0.0 seq=0 uninstall=NOT_RUN from=`]);
    const adv = entryOf(r.status, '../../../etc/advpwn');
    assert.equal(adv?.status, 'NotReady', JSON.stringify(handlerEntries(r.status)));
    assert.equal(adv?.code, -1);
    assert.match(adv?.formattedMessage?.message ?? '', /the handler name "\.\.\/\.\.\/\.\.\/etc\/advpwn" is not a valid handler name/);
    const ver = entryOf(r.status, 'Test.Ver');
    assert.equal(ver?.status, 'NotReady');
    assert.match(
      ver?.formattedMessage?.message ?? '',
      /the version "1\.0\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/verpwn" of the handler Test\.Ver is not a valid version/,
    );
    assert.equal(entryOf(r.status, good)?.status, 'Ready');
    assert.equal(
      await x.sh('ls -a /etc /var/lib /var/log | grep -c pwn || true'),
      '0',
      'nothing named after the hostile handlers anywhere',
    );
    const lib = await x.sh(`ls ${LIB}`);
    assert.ok(!/advpwn|Adv\.Pwn|Test\.Ver/.test(lib), lib);
  });

  // Upstream keeps the zip's modes: a 0666 entry is extracted world-writable in a root-run handler directory.
  test('package modes are masked: no group/world write, no setuid, on files and directories', async () => {
    const name = 'Test.Modes';
    const zip = handlerZip({
      name,
      version: '1.0.0',
      modes: { enable: 0o4777 },
      extra: [
        { name: 'data/', data: '', mode: 0o777 },
        { name: 'data/open.txt', data: 'x', mode: 0o666 },
      ],
    });
    await offer(name, '1.0.0', zip);
    await serve([plugin(name)]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(entryOf(r.status, name)?.status, 'Ready', JSON.stringify(handlerEntries(r.status)));
    const base = `${LIB}/${name}-1.0.0`;
    assert.equal(
      await x.sh(`stat -c '%a %n' ${base}/bin/enable.sh ${base}/data ${base}/data/open.txt`),
      [`755 ${base}/bin/enable.sh`, `755 ${base}/data`, `744 ${base}/data/open.txt`].join('\n'),
    );
  });

  // An extension replaces its config/ directory and its log folder with links to root directories. Upstream (and
  // this agent before) writes HandlerState into /etc/cfgpwn and appends CommandExecution.log in /etc/logpwn as root.
  test('links planted for config/ and the log folder: nothing written through them, the handler says why', async () => {
    const name = 'Test.Links';
    const plant =
      'mkdir -p /etc/cfgpwn /etc/logpwn && mv config config.orig && ln -s /etc/cfgpwn config && rm -rf "/var/log/azure/$n" && ln -s /etc/logpwn "/var/log/azure/$n"';
    await offer(name, '1.0.0', handlerZip({ name, version: '1.0.0', scripts: { install: plant } }));
    await serve([plugin(name)]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await x.sh('ls -A /etc/cfgpwn /etc/logpwn | grep -v ":$" | grep -v "^$" || true'),
      '',
      'nothing written through the links',
    );
    const e = entryOf(r.status, name);
    assert.equal(e?.status, 'NotReady', JSON.stringify(handlerEntries(r.status)));
    assert.match(e?.formattedMessage?.message ?? '', /config is a symbolic link, which the agent does not write through/);
    assert.match(x.read('/var/log/waagent.log') ?? '', /Test\.Links is a symbolic link, which the agent does not write through/);
    // A second run: still nothing through the links.
    const again = await x.once();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await x.sh('ls -A /etc/cfgpwn /etc/logpwn | grep -v ":$" | grep -v "^$" || true'), '');
  });

  // An extension (root in its own directory) replaces the files the agent reads every cycle: its HandlerState with a
  // link to /etc/shadow, HandlerStatus and its heartbeat with a FIFO, the heartbeat with a link, HandlerState with a
  // file of another owner. Before, these were read with readFileSync: through the link (the first 40 characters of
  // /etc/shadow went into waagent.log as "the unknown handler state") and blocking forever on the FIFO (no status,
  // SIGTERM ignored). Upstream reads them the same way. Now each is refused, and that handler's status says why.
  test('HandlerState, HandlerStatus and heartbeat replaced by links, FIFOs or another owner: nothing leaks, no block, the status says why', async () => {
    const names = ['Test.StateLink', 'Test.StatusFifo', 'Test.BeatLink', 'Test.BeatFifo', 'Test.StateOwner', 'Test.Fine'];
    const beat = `printf '[{"version":1.0,"heartbeat":{"status":"Ready","code":0,"formattedMessage":{"lang":"en-US","message":"beating"}}}]' > heartbeat.log`;
    for (const n of names) {
      await offer(
        n,
        '1.0.0',
        handlerZip({ name: n, version: '1.0.0', manifest: { reportHeartbeat: true }, scripts: { enable: `${statusSnippet()}\n${beat}` } }),
      );
    }
    await serve(names.map((n) => plugin(n)));
    // The agent as it runs on a VM: one process, a 1 s goal-state period, the status reported every cycle.
    const agent = runAgent(x);
    const base = (n: string) => `${LIB}/${n}-1.0.0`;
    try {
      const ready = await agent.until((doc) => names.every((n) => entryOf(doc, n)?.status === 'Ready'), 60_000);
      assert.ok(ready, 'every handler Ready first');
      const shadowBefore = await x.sh('sha256sum /etc/shadow');
      const shadowRoot = (await x.sh('head -n1 /etc/shadow')).trim();
      assert.match(shadowRoot, /^root:/);
      await x.sh(
        [
          `cd ${base('Test.StateLink')}/config && rm HandlerState && ln -s /etc/shadow HandlerState`,
          `cd ${base('Test.StatusFifo')}/config && rm HandlerStatus && mkfifo HandlerStatus`,
          `cd ${base('Test.BeatLink')} && rm heartbeat.log && ln -s /etc/shadow heartbeat.log`,
          `cd ${base('Test.BeatFifo')} && rm heartbeat.log && mkfifo heartbeat.log`,
          `chown 65534 ${base('Test.StateOwner')}/config/HandlerState`,
          // settings files are only written by the agent (by rename, replacing whatever is there), never read:
          // a link and a FIFO among them change nothing, and the handler stays Ready
          `cd ${base('Test.Fine')}/config && rm 0.settings && ln -s /etc/shadow 0.settings && mkfifo 1.settings`,
        ].join(' && '),
      );
      const bad = names.filter((n) => n !== 'Test.Fine');
      const doc = await agent.until((d) => bad.every((n) => entryOf(d, n)?.status === 'NotReady'), 30_000);
      assert.ok(doc, `the planted files are reported; last: ${JSON.stringify(agent.last ? handlerEntries(agent.last) : null)}`);
      const said = (n: string) => entryOf(doc, n)?.formattedMessage?.message ?? '';
      assert.match(said('Test.StateLink'), /config\/HandlerState is a symbolic link, which the agent does not follow/);
      assert.match(said('Test.StatusFifo'), /config\/HandlerStatus is a FIFO, not a regular file/);
      assert.match(said('Test.BeatLink'), /heartbeat\.log is a symbolic link, which the agent does not follow/);
      assert.match(said('Test.BeatFifo'), /heartbeat\.log is a FIFO, not a regular file/);
      assert.match(said('Test.StateOwner'), /config\/HandlerState belongs to uid 65534, not to uid 0 as expected/);
      assert.equal(entryOf(doc, 'Test.Fine')?.status, 'Ready', 'the untouched handler is still Ready');
      // Still reporting, cycle after cycle: nothing blocked.
      const uploadsBefore = agent.count;
      assert.ok(await agent.until(() => agent.count >= uploadsBefore + 2, 20_000), 'the status keeps going out');
      const blobs = JSON.stringify(agent.all);
      const agentLog = x.read('/var/log/waagent.log') ?? '';
      assert.ok(!blobs.includes(shadowRoot.slice(0, 12)), 'no /etc/shadow bytes in any status blob');
      assert.ok(!agentLog.includes(shadowRoot.slice(0, 12)), 'no /etc/shadow bytes in the agent log');
      assert.equal(await x.sh('sha256sum /etc/shadow'), shadowBefore, '/etc/shadow is untouched');
      assert.equal(await x.sh(`stat -c %F ${base('Test.StatusFifo')}/config/HandlerStatus`), 'fifo');
      const took = await agent.stop();
      assert.ok(took < 10_000, `SIGTERM obeyed in ${took} ms`);
    } finally {
      await agent.stop();
      // Gone from disk and from the goal state, so later tests see no uninstall of these.
      await x.sh(`rm -rf ${names.map(base).join(' ')}`);
      await serve([]);
      await x.once();
      x.skipOps();
    }
  });

  test('a package entry whose name holds a newline: refused with the entry named, nothing unpacked', async () => {
    const name = 'Test.Newline';
    await offer(name, '1.0.0', handlerZip({ name, version: '1.0.0', extra: [{ name: 'bin/evil\n.sh', data: 'x' }] }));
    await serve([plugin(name)]);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    const e = entryOf(r.status, name);
    assert.equal(e?.status, 'NotReady', JSON.stringify(handlerEntries(r.status)));
    assert.match(e?.formattedMessage?.message ?? '', /entry "bin\/evil\\n\.sh" .* control character/);
    assert.ok(!x.exists(`${LIB}/${name}-1.0.0/bin`), 'nothing unpacked');
    assert.deepEqual(r.ops, []);
  });
});

describe('hostile documents and faults: one bad part costs only what depends on it', () => {
  let x: ExtensionsHarness;
  let inc = 100;
  const manifestUrl = (name: string) => x.blob(`/manifests/${encodeURIComponent(name)}.xml`);
  const pkgUrl = (name: string) => x.blob(`/pkgs/${encodeURIComponent(name)}.zip`);
  const plugin = (name: string, extra: Partial<PluginSpec> = {}): PluginSpec => ({
    name,
    version: '1.0.0',
    state: 'enabled',
    manifestUrl: manifestUrl(name),
    seqNo: 0,
    ...extra,
  });
  const entryOf = (doc: Json, name: string) => handlerEntries(doc).find((h: Json) => h.handlerName === name);
  async function offer(name: string, zip = handlerZip({ name, version: '1.0.0' })): Promise<void> {
    await x.register({ [manifestUrl(name)]: pluginManifest([{ version: '1.0.0', uris: [pkgUrl(name)] }]), [pkgUrl(name)]: zip });
  }

  before(async () => {
    x = await ExtensionsHarness.start();
  });
  after(() => x?.close());

  // Upstream (and this agent before) fails the whole goal-state fetch: no handler runs and no status blob goes out,
  // cycle after cycle ("the status could not be reported: the certificates could not be retrieved…"; finding 9).
  test('a garbage Certificates document: the status blob still goes out, handlers without certificates run, the one that needs one says why', async () => {
    const plain = 'Test.NoCert';
    const needy = 'Test.NeedsCert';
    await offer(plain);
    await offer(needy);
    const thumbprint = 'C0FFEE'.padEnd(40, '0');
    const ec = extensionsConfig({
      incarnation: ++inc,
      plugins: [plugin(plain), plugin(needy, { certificateThumbprint: thumbprint })],
      statusBlob: STATUS_BLOB,
    });
    await x.serve({ extensionsConfig: ec, certificates: '<<< not a certificates document \u0000\u0001' }, inc);
    try {
      await garbageCertificates(plain, needy, thumbprint);
    } finally {
      await x.serve({ certificates: join(FIXTURES, 'tests', 'data', 'wire', 'certs.xml') }, inc);
    }
  });

  async function garbageCertificates(plain: string, needy: string, thumbprint: string): Promise<void> {
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [
      `install ${plain} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      `enable ${plain} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
    ]);
    assert.equal(entryOf(r.status, plain)?.status, 'Ready', JSON.stringify(handlerEntries(r.status)));
    const held = entryOf(r.status, needy);
    assert.equal(held?.status, 'NotReady');
    assert.match(
      held?.formattedMessage?.message ?? '',
      new RegExp(
        `the certificate ${thumbprint} its protected settings are encrypted to is not available \\(the certificates could not be retrieved`,
      ),
    );
    assert.ok(!x.exists(`${LIB}/${needy}-1.0.0/HandlerManifest.json`), 'nothing of the held-back handler was unpacked');
    // The next cycle (same incarnation) reports again.
    const again = await x.once();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(entryOf(again.status, plain)?.status, 'Ready');
  }

  // Upstream (and this agent before) has no limit of its own on one handler's settings: 1.2 MiB of publicSettings
  // or 100 levels of nesting are written to its settings file and handed to it. Now over 1 MiB per handler or 64
  // levels makes that handler NotReady with the sentence; nothing of it is downloaded or run, the others run.
  test('huge or deeply nested settings: that handler is refused with a clear status, the others run', async () => {
    const big = 'Test.BigSettings';
    const deep = 'Test.DeepSettings';
    const fine = 'Test.FineSettings';
    for (const n of [big, deep, fine]) await offer(n);
    let nested: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 100; i++) nested = { n: nested };
    const ec = extensionsConfig({
      incarnation: ++inc,
      plugins: [
        plugin(big, { publicSettings: { blob: 'x'.repeat(1200 * 1024) } }),
        plugin(deep, { publicSettings: nested }),
        plugin(fine, { publicSettings: { a: 1 } }),
      ],
      statusBlob: STATUS_BLOB,
    });
    await x.serve({ extensionsConfig: ec }, inc);
    const r = await x.once();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.ops, [`install ${fine} 1.0.0 seq=0 uninstall=NOT_RUN from=`, `enable ${fine} 1.0.0 seq=0 uninstall=NOT_RUN from=`]);
    assert.equal(entryOf(r.status, fine)?.status, 'Ready', JSON.stringify(handlerEntries(r.status)));
    const b = entryOf(r.status, big);
    assert.equal(b?.status, 'NotReady');
    assert.match(
      b?.formattedMessage?.message ?? '',
      /the settings of the handler Test\.BigSettings 1\.0\.0 are \d+ bytes, over the limit of 1048576 bytes per handler/,
    );
    const d = entryOf(r.status, deep);
    assert.equal(d?.status, 'NotReady');
    assert.match(
      d?.formattedMessage?.message ?? '',
      /the settings of the handler Test\.DeepSettings 1\.0\.0 nest more than 64 levels deep, over the limit/,
    );
    for (const n of [big, deep]) {
      // Only the error status is kept (config/HandlerStatus, as for any invalid handler): no package, no settings.
      assert.equal(await x.sh(`cd ${LIB}/${n}-1.0.0 && find . -type f | sort`), './config/HandlerStatus', n);
    }
    assert.ok(JSON.stringify(r.uploads).length < 200_000, 'the settings do not travel into the status blob');
  });

  // Upstream, and this agent before, looked up each handler's installed version by listing Lib.Dir (a stat per
  // entry): quadratic, minutes of CPU for 3,000 handlers before the first status (finding 8). Now at most 200 are
  // processed; the rest are reported NotReady and nothing is written for them.
  test('a goal state with 3,000 handlers: the first status comes promptly, the excess is reported, nothing written for it', async () => {
    const count = 3000;
    const plugins = Array.from({ length: count }, (_, i) => plugin(`Test.Many${i}`, { state: '' as PluginSpec['state'] }));
    await x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins, statusBlob: STATUS_BLOB }) }, inc);
    const started = Date.now();
    const r = await x.once(60_000);
    const tookMs = Date.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(tookMs < 30_000, `the first status took ${tookMs} ms`);
    assert.equal(handlerEntries(r.status).filter((h: Json) => h.handlerName.startsWith('Test.Many')).length, count);
    assert.match(entryOf(r.status, 'Test.Many0')?.formattedMessage?.message ?? '', /has an empty state/);
    const excess = entryOf(r.status, `Test.Many${count - 1}`);
    assert.equal(excess?.status, 'NotReady');
    assert.match(excess?.formattedMessage?.message ?? '', /not processed: the goal state has 3000 handlers and at most 200 are processed/);
    assert.ok(!x.exists(`${LIB}/Test.Many${count - 1}-1.0.0`), 'nothing written for a handler past the limit');
  });

  // Before, SIGTERM was obeyed only after the whole goal state: every handler of a big one (finding 8).
  test('SIGTERM in the middle of a goal state: the running command finishes, no further handler starts, the agent exits within seconds', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `Test.Slow${i}`);
    for (const n of names) await offer(n, handlerZip({ name: n, version: '1.0.0', scripts: { install: 'sleep 2' } }));
    await x.serve(
      { extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins: names.map((n) => plugin(n)), statusBlob: STATUS_BLOB }) },
      inc,
    );
    x.skipOps();
    const child = x.sb.spawn(['/bin/sh', '-c', `echo $$; exec ${WAAGENT} -run-exthandlers`]);
    child.stderr!.resume();
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 128)));
    const pid = await new Promise<string>((resolve) =>
      child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim().split('\n')[0]!)),
    );
    child.stdout!.resume();
    for (let i = 0; i < 150 && !x.opsLog().some((l) => l.startsWith('install Test.Slow0 ')); i++) await sleep(100);
    const started = Date.now();
    await x.sh(`kill -TERM ${pid}`);
    const code = await Promise.race([exited, sleep(30_000, -1, { ref: false })]);
    const took = Date.now() - started;
    assert.equal(code, 0);
    assert.ok(took < 6000, `exited ${took} ms after SIGTERM`);
    const installs = x.opsLog().filter((l) => l.startsWith('install Test.Slow'));
    assert.ok(installs.length >= 1 && installs.length <= 2, installs.join('\n'));
    assert.match(
      x.read('/var/log/waagent.log') ?? '',
      /the agent is stopping: \d+ of the goal state's 8 handler operations were not started/,
    );
    x.skipOps();
  });
});

describe('a full disk: the agent keeps running, extensions still run, what failed is reported', () => {
  let x: ExtensionsHarness;
  let inc = 200;
  const manifestUrl = (name: string) => x.blob(`/manifests/${encodeURIComponent(name)}.xml`);
  const pkgUrl = (name: string) => x.blob(`/pkgs/${encodeURIComponent(name)}.zip`);
  const plugin = (name: string): PluginSpec => ({ name, version: '1.0.0', state: 'enabled', manifestUrl: manifestUrl(name), seqNo: 0 });
  const entryOf = (doc: Json, name: string) => handlerEntries(doc).find((h: Json) => h.handlerName === name);
  async function offer(name: string): Promise<void> {
    await x.register({
      [manifestUrl(name)]: pluginManifest([{ version: '1.0.0', uris: [pkgUrl(name)] }]),
      [pkgUrl(name)]: handlerZip({ name, version: '1.0.0' }),
    });
  }
  /** Mounts a small tmpfs on `dir` (inside the sandbox's own mount namespace) and fills it: no block and no inode left. */
  async function fill(dir: string): Promise<void> {
    await x.sh(`mkdir -p ${dir} && mount -t tmpfs -o size=64k,nr_inodes=64 full ${dir}`);
    await x.sh(`cd ${dir} && (i=0; while touch f$i 2>/dev/null; do i=$((i+1)); done; dd if=/dev/zero of=f0 bs=4k 2>/dev/null; true)`);
    assert.match(await x.sh(`df -P ${dir} | tail -1`), /\s100%\s/);
  }

  before(async () => {
    x = await ExtensionsHarness.start();
  });
  after(() => x?.close());

  // Upstream fails every extension command with "ENOSPC: no space left on device, write" when the output log under
  // /var/log cannot be written (issue 11 finding 10).
  test('a full Extension.LogDir: the commands still run and the handler is Ready; the log trouble is logged once', async () => {
    const name = 'Test.FullLog';
    await offer(name);
    await fill('/var/log/azure');
    try {
      await x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins: [plugin(name)], statusBlob: STATUS_BLOB }) }, inc);
      const r = await x.once();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(entryOf(r.status, name)?.status, 'Ready', JSON.stringify(handlerEntries(r.status)));
      assert.deepEqual(r.ops, [
        `install ${name} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
        `enable ${name} 1.0.0 seq=0 uninstall=NOT_RUN from=`,
      ]);
      const agentLog = x.read('/var/log/waagent.log') ?? '';
      const trouble = agentLog.split('\n').filter((l) => l.includes(`/var/log/azure`) && /cannot be (kept|written)/.test(l));
      assert.equal(trouble.length, 1, trouble.join('\n') || agentLog.slice(-3000));
      assert.match(trouble[0]!, /no space left on device|ENOSPC/i);
    } finally {
      await x.sh('umount /var/log/azure');
    }
  });

  test('a full Lib.Dir: the agent keeps running, the status goes out, the new handler says what failed, nothing written before is lost', async () => {
    const before = 'Test.Before';
    const after = 'Test.AfterFull';
    await offer(before);
    await offer(after);
    await x.serve({ extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins: [plugin(before)], statusBlob: STATUS_BLOB }) }, inc);
    assert.equal(entryOf((await x.once()).status, before)?.status, 'Ready');
    // Lib.Dir moved onto a small filesystem with its contents, then filled.
    await x.sh(
      `cp -a ${LIB} /run/lib-copy && mount -t tmpfs -o size=8m lib ${LIB} && cp -a /run/lib-copy/. ${LIB}/ && rm -rf /run/lib-copy`,
    );
    const sizes = async () =>
      new Map(
        (await x.sh(`cd ${LIB} && find . -type f -printf '%s %p\\n'`))
          .split('\n')
          .map((l) => [l.slice(l.indexOf(' ') + 1), Number(l.slice(0, l.indexOf(' ')))] as const),
      );
    try {
      await x.sh(`dd if=/dev/zero of=${LIB}/zz-fill bs=64k 2>/dev/null; true`);
      const was = await sizes();
      await x.serve(
        { extensionsConfig: extensionsConfig({ incarnation: ++inc, plugins: [plugin(before), plugin(after)], statusBlob: STATUS_BLOB }) },
        inc,
      );
      const r = await x.once();
      assert.equal(r.code, 0, r.stderr);
      const failed = entryOf(r.status, after);
      assert.equal(failed?.status, 'NotReady', JSON.stringify(handlerEntries(r.status)));
      assert.match(failed?.formattedMessage?.message ?? '', /the disk is full/);
      // Its new settings could not be written either: it says so, not the stale Ready of its HandlerStatus file.
      const stale = entryOf(r.status, before);
      assert.equal(stale?.status, 'NotReady');
      assert.match(stale?.formattedMessage?.message ?? '', /cannot write .*0\.settings: the disk is full/);
      const now = await sizes();
      for (const [file, size] of was) {
        if (file === './zz-fill') continue;
        assert.ok(now.has(file), `${file} is still there`);
        if (size > 0) assert.ok((now.get(file) ?? 0) > 0, `${file} was not emptied`);
      }
      // The next cycle still reports.
      const again = await x.once();
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await x.sh(
        `cp -a ${LIB} /run/lib-copy && umount ${LIB} && rm -f /run/lib-copy/zz-fill && cp -a /run/lib-copy/. ${LIB}/ && rm -rf /run/lib-copy`,
      );
    }
  });
});

// The wall clock jumping (NTP after a suspend, `date -s`, the hypervisor's time sync) under libfaketime
// (scripts/bootstrap.sh installs it): the agent's wall clock is moved two hours back, then a day forwards, while
// its monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC), as on a real VM. Each goal-state fetch is held
// 1.5 s so that a cycle outlasts the 1 s period and a jump lands inside one. Before, the loop measured the cycle
// with Date.now: a jump back inside a cycle made the next wait two hours (no status upload at all); upstream's loop
// (time.time) has the same flaw. Now intervals are measured on the monotonic clock (src/util/clock.ts).
describe('the wall clock jumping forwards and back', () => {
  let x: ExtensionsHarness;
  before(async () => {
    x = await ExtensionsHarness.start();
  });
  after(() => x?.close());

  test('status keeps going out about once a period: no stall after a jump back, no burst after a jump forwards', async () => {
    const name = 'Test.Clock';
    const manifestUrl = x.blob(`/manifests/${name}.xml`);
    const pkg = x.blob(`/pkgs/${name}.zip`);
    await x.register({ [manifestUrl]: pluginManifest([{ version: '1.0.0', uris: [pkg] }]), [pkg]: handlerZip({ name, version: '1.0.0' }) });
    const plugins: PluginSpec[] = [{ name, version: '1.0.0', state: 'enabled', manifestUrl, seqNo: 0 }];
    await x.serve({ extensionsConfig: extensionsConfig({ incarnation: 900, plugins, statusBlob: STATUS_BLOB }) }, 900);
    x.sb.writeFile('/run/faketime-offset', '+0\n');
    const agent = runAgent(x, {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: '/run/faketime-offset',
      FAKETIME_CACHE_DURATION: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    const entry = (d: Json) => handlerEntries(d).find((h: Json) => h.handlerName === name);
    try {
      assert.ok(await agent.until((d) => entry(d)?.status === 'Ready', 60_000), 'Ready first');
      await x.emu.control.setFaults([{ kind: 'delay', ms: 1500, service: 'wireserver', path: 'comp=goalstate', method: 'GET' }]);
      /** Uploads during the next `ms`, and the agent's clock as the last of them says. */
      const during = async (ms: number) => {
        const from = agent.count;
        await agent.until(() => false, ms);
        return { n: agent.count - from, agentTime: Date.parse(agent.last?.timestampUTC ?? '') };
      };
      const steady = await during(8000);
      assert.ok(steady.n >= 2, `${steady.n} uploads in 8 s before any jump`);
      x.sb.writeFile('/run/faketime-offset', '-7200\n');
      const back = await during(12_000);
      assert.ok(back.agentTime < Date.now() - 3600_000, `the agent's clock went back: ${agent.last?.timestampUTC}`);
      assert.ok(back.n >= 3, `${back.n} uploads in 12 s after the clock went two hours back`);
      x.sb.writeFile('/run/faketime-offset', '+86400\n');
      const forwards = await during(12_000);
      assert.ok(forwards.agentTime > Date.now() + 20 * 3600_000, `the agent's clock went forwards: ${agent.last?.timestampUTC}`);
      assert.ok(forwards.n >= 3 && forwards.n <= 15, `${forwards.n} uploads in 12 s after the clock went a day forwards`);
      const took = await agent.stop();
      assert.ok(took < 10_000, `SIGTERM obeyed in ${took} ms`);
    } finally {
      await agent.stop();
      await x.emu.control.setFaults([]);
    }
  });
});

/**
 * The agent as a long-running `-run-exthandlers` (not -once): `until` polls the status uploads for one that
 * satisfies `pred`; `stop` sends SIGTERM and returns how long it took to exit (0 when it had already exited).
 */
function runAgent(x: ExtensionsHarness, env: Record<string, string> = {}) {
  const child = x.sb.spawn(['/bin/sh', '-c', `echo $$; exec ${WAAGENT} -run-exthandlers`], { env });
  child.stderr!.resume();
  let exitedCode: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitedCode = code ?? 128;
      resolve();
    }),
  );
  const pid = new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim().split('\n')[0]!)));
  const all: Json[] = [];
  const state = {
    all,
    get count() {
      return all.length;
    },
    get last(): Json | undefined {
      return all[all.length - 1];
    },
    async until(pred: (doc: Json) => boolean, timeoutMs: number): Promise<Json | null> {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end && exitedCode === null) {
        for (const d of await x.newUploads()) {
          all.push(d);
          if (pred(d)) return d;
        }
        await sleep(250);
      }
      return null;
    },
    async stop(): Promise<number> {
      if (exitedCode !== null) return 0;
      const started = Date.now();
      await x.sh(`kill -TERM ${await pid}`);
      await Promise.race([exited, sleep(30_000, undefined, { ref: false })]);
      return Date.now() - started;
    },
  };
  return state;
}
