// Running extension handler commands (docs/protocol.md §5.8, §5.10): real shell scripts in a temp handler dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAgentError } from '../../../src/util/errors.ts';
import { runHandlerCommand, type HandlerCommandOptions } from '../../../src/extensions/command.ts';
import { extensionEnvironment, extensionVariables, NOT_RUN } from '../../../src/extensions/command-env.ts';
import { formatOutput, MESSAGE_MAX_CHARS } from '../../../src/extensions/command-output.ts';
import { extensionSliceName, scopeArgv, scopeStarted, scopeUnitName } from '../../../src/extensions/command-scope.ts';
import { appendCommandLog, commandLogPath } from '../../../src/extensions/command-log.ts';
import { OPERATIONS, TIMEOUT_ERROR_CODE, manifestCommandKey, type Operation } from '../../../src/extensions/handler-operations.ts';
import { commandError, noexecMountFor, type FailedCommand } from '../../../src/extensions/command-outcome.ts';
import { REPO_ROOT } from '../../helpers/paths.ts';

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A handler dir `<root>/lib/Test.Handler-1.0` holding the given scripts (mode 0755 unless listed in noExec). */
function handler(scripts: Record<string, string>, noExec: string[] = []): { dir: string; logDir: string; root: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'waagent-extcmd-')));
  made.push(root);
  const dir = join(root, 'lib', 'Test.Handler-1.0');
  for (const [name, body] of Object.entries(scripts)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, noExec.includes(name) ? 0o644 : 0o755);
  }
  return { dir, logDir: join(root, 'log', 'Test.Handler'), root };
}

function opts(h: { dir: string; logDir: string }, command: string, extra: Partial<HandlerCommandOptions> = {}): HandlerCommandOptions {
  return {
    handlerDir: h.dir,
    command,
    operation: 'enable',
    env: { PATH: process.env.PATH },
    name: 'Test.Handler',
    version: '1.0',
    logDir: h.logDir,
    timeoutMs: 10_000,
    ...extra,
  };
}

/** Live (non-zombie) processes whose process group is `pgid`. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

async function waitForNoMembers(pgid: number, ms = 2000): Promise<number[]> {
  const until = Date.now() + ms;
  let left = groupMembers(pgid);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    left = groupMembers(pgid);
  }
  return left;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** What upstream's ExtHandlerInstance hands launch_command (exthandlers.py), as [timeout seconds, error code]. */
const UPSTREAM_OPERATIONS: Record<Operation, [number, number]> = {
  install: [900, 1007], // timeout=900, PluginInstallProcessingFailed
  enable: [300, 1009], // timeout=300, PluginEnableProcessingFailed
  disable: [900, 1010], // timeout=900, PluginDisableProcessingFailed
  update: [900, 1008], // timeout=900, PluginUpdateProcessingFailed
  uninstall: [300, 1000], // launch_command's defaults: timeout=300, PluginProcessingError
};

test('the operations table: every operation, with the timeout and the error code upstream gives it', () => {
  assert.deepEqual(Object.keys(OPERATIONS).sort(), Object.keys(UPSTREAM_OPERATIONS).sort());
  for (const [op, [timeoutSeconds, errorCode]] of Object.entries(UPSTREAM_OPERATIONS)) {
    assert.deepEqual(OPERATIONS[op as Operation], { timeoutSeconds, errorCode }, op);
    assert.equal(manifestCommandKey(op as Operation), `${op}Command`);
  }
  assert.equal(TIMEOUT_ERROR_CODE, 1011); // PluginHandlerScriptTimedout
});

test('the operations table says what docs/protocol.md §5.8 says', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'protocol.md'), 'utf8');
  const timeouts = /Timeouts: (.*?)\. Timeout → SIGKILL the\s+process group, code \*\*(\d+)\*\*\. Non-zero exit codes: (.*?)\./s.exec(doc);
  assert.ok(timeouts, 'the timeouts sentence of §5.8');
  const pairs = (text: string) => Object.fromEntries([...text.matchAll(/(\w+) \**(\d+)\**/g)].map((m) => [m[1]!, Number(m[2])]));
  const documented = pairs(timeouts[1]!);
  const codes = pairs(timeouts[3]!);
  for (const op of Object.keys(OPERATIONS) as Operation[]) {
    assert.equal(documented[op], OPERATIONS[op].timeoutSeconds, `${op} timeout`);
    assert.equal(codes[op], OPERATIONS[op].errorCode, `${op} code`);
  }
  assert.equal(Number(timeouts[2]), TIMEOUT_ERROR_CODE);
});

test("the reported error of a failed command: upstream's words, the code of the table, the exit code handed on", () => {
  const base: FailedCommand = {
    operation: 'enable',
    outcome: 'failed',
    command: '/bin/enable.sh',
    name: 'Bad.ExitOne',
    version: '1.0.0',
    exitCode: 1,
    signal: null,
    timeoutSeconds: 300,
    reason: 'the enable command of Bad.ExitOne 1.0.0 (/bin/enable.sh) failed with exit code 1',
    output: '[stdout]\nabout to fail\n\n\n[stderr]\noops\n',
  };
  const failed = commandError(base);
  assert.ok(isAgentError(failed, 'extension'));
  assert.equal(
    failed.message,
    'Non-zero exit code: 1, /bin/enable.sh (enable of Bad.ExitOne 1.0.0)\n[stdout]\nabout to fail\n\n\n[stderr]\noops',
  );
  assert.equal(failed.context.code, 1009);
  assert.equal(failed.context.exitCode, 1);
  assert.equal(failed.context.reason, base.reason);

  for (const op of Object.keys(OPERATIONS) as Operation[]) {
    assert.equal(commandError({ ...base, operation: op }).context.code, OPERATIONS[op].errorCode, op);
    const timedOut = commandError({
      ...base,
      operation: op,
      outcome: 'timeout',
      exitCode: null,
      timeoutSeconds: OPERATIONS[op].timeoutSeconds,
    });
    assert.equal(timedOut.context.code, TIMEOUT_ERROR_CODE, op);
    assert.equal(timedOut.context.exitCode, null, op);
    assert.match(
      timedOut.message,
      new RegExp(`^Timeout\\(${OPERATIONS[op].timeoutSeconds}\\): /bin/enable\\.sh \\(${op} of Bad\\.ExitOne 1\\.0\\.0\\)\n\\[stdout\\]`),
    );
  }
  // a signal the agent saw has no exit code: -1, as upstream reports it
  const signalled = commandError({ ...base, outcome: 'signal', exitCode: null, signal: 'SIGKILL', output: '' });
  assert.equal(signalled.message, 'Non-zero exit code: -1, /bin/enable.sh (enable of Bad.ExitOne 1.0.0)');
  assert.equal(signalled.context.exitCode, -1);
  // a multi-config extension is named with its handler; a command that could not start shows the reason
  const missing = commandError({ ...base, extensionName: 'first', outcome: 'not-found', exitCode: 127, reason: 'it does not exist' });
  assert.equal(missing.message, 'Non-zero exit code: 127, /bin/enable.sh (enable of Bad.ExitOne.first 1.0.0)\nit does not exist');
});

test('a succeeding command: exit 0, its stdout in the files, the message, and a CommandExecution.log entry', async () => {
  const h = handler({ 'scripts/enable.sh': 'echo hello from enable; echo warned >&2' });
  const r = await runHandlerCommand(opts(h, 'scripts/enable.sh'));
  assert.equal(r.outcome, 'success');
  assert.equal(r.exitCode, 0);
  assert.equal(r.errorCode, 0);
  assert.equal(r.error, null);
  assert.equal(r.timedOut, false);
  assert.equal(r.stdout, 'hello from enable\n');
  assert.equal(r.stderr, 'warned\n');
  assert.equal(r.message, '[stdout]\nhello from enable\n\n\n[stderr]\nwarned\n');
  assert.equal(readFileSync(r.stdoutPath, 'utf8'), 'hello from enable\n');
  assert.equal(readFileSync(r.stderrPath, 'utf8'), 'warned\n');
  assert.equal(r.stdoutPath, join(h.logDir, 'CommandExecution.enable.stdout'));
  const cmdLog = readFileSync(commandLogPath(h.logDir), 'utf8');
  assert.match(cmdLog, /the enable command of Test\.Handler 1\.0 \(scripts\/enable\.sh\) succeeded/);
  assert.match(cmdLog, /hello from enable/);
});

test('a non-zero exit is a failure with the operation error code and the output', async () => {
  const h = handler({ 'bin/install': 'echo "missing dependency foo" >&2; exit 3' });
  const r = await runHandlerCommand(opts(h, 'bin/install --verbose', { operation: 'install' }));
  assert.equal(r.outcome, 'failed');
  assert.equal(r.exitCode, 3);
  assert.equal(r.errorCode, 1007);
  assert.ok(isAgentError(r.error, 'extension'));
  // what the lifecycle reports: upstream's words, then the output; the one-sentence reason is the logged one
  assert.equal(r.error.message, `Non-zero exit code: 3, bin/install --verbose (install of Test.Handler 1.0)\n${r.message}`.trimEnd());
  assert.equal(r.error.context.reason, 'the install command of Test.Handler 1.0 (bin/install --verbose) failed with exit code 3');
  assert.equal(r.error.context.exitCode, 3);
  assert.equal(r.error.context.code, 1007);
  assert.match(r.message, /\[stderr\]\nmissing dependency foo/);
  for (const [op, code] of [
    ['update', 1008],
    ['disable', 1010],
    ['uninstall', 1000],
  ] as const) {
    const f = await runHandlerCommand(opts(h, 'bin/install', { operation: op }));
    assert.equal(f.errorCode, code, op);
  }
});

test('arguments pass through, a leading "/" is stripped and the cwd is the handler dir', async () => {
  const h = handler({ 'bin/show.sh': 'echo "args=$*"; pwd' });
  const r = await runHandlerCommand(opts(h, '/bin/show.sh one two'));
  assert.equal(r.outcome, 'success');
  assert.equal(r.stdout, `args=one two\n${h.dir}\n`);
});

test('the extension environment of §5.8 reaches the command, agent values over the process environment', async () => {
  const h = handler({
    'env.sh':
      'for v in AZURE_GUEST_AGENT_EXTENSION_PATH AZURE_GUEST_AGENT_EXTENSION_VERSION AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS ConfigSequenceNumber AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE ConfigExtensionName KEEP_ME; do eval "echo $v=\\$$v"; done',
  });
  const env = extensionEnvironment(
    { operation: 'install', handlerDir: h.dir, version: '1.0', wireServerAddress: '10.0.0.1', seqNo: 7, extensionName: 'ext1' },
    { PATH: process.env.PATH, KEEP_ME: 'yes', ConfigSequenceNumber: '99' },
  );
  const r = await runHandlerCommand(opts(h, 'env.sh', { env, operation: 'install' }));
  assert.equal(
    r.stdout,
    [
      `AZURE_GUEST_AGENT_EXTENSION_PATH=${h.dir}`,
      'AZURE_GUEST_AGENT_EXTENSION_VERSION=1.0',
      'AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS=10.0.0.1',
      'ConfigSequenceNumber=7',
      'AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES=[{"Key":"ExtensionTelemetryPipeline","Value":"1.0"}]',
      'AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE=NOT_RUN',
      'ConfigExtensionName=ext1',
      'KEEP_ME=yes',
      '',
    ].join('\n'),
  );
});

test('extension variables per operation: update, multi-config disable codes, uninstall exit code', () => {
  const common = { handlerDir: '/l/H-2.0', version: '2.0', wireServerAddress: '168.63.129.16', seqNo: 0 };
  const upd = extensionVariables({ ...common, operation: 'update', updatingFromVersion: '1.0', disableExitCode: 0 });
  assert.equal(upd.VERSION, '2.0');
  assert.equal(upd.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION, '1.0');
  assert.equal(upd.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, '0');
  assert.equal(upd.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, undefined);
  const down = extensionVariables({ ...common, operation: 'update', targetVersion: '0.9' });
  assert.equal(down.VERSION, '0.9');
  assert.equal(down.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, NOT_RUN);
  const multi = extensionVariables({
    ...common,
    operation: 'update',
    disableExitCodes: [
      { extensionName: 'a', exitCode: 0 },
      { extensionName: 'b', exitCode: NOT_RUN },
    ],
  });
  assert.equal(
    multi.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS,
    '[{"extensionName":"a","exitCode":"0"},{"extensionName":"b","exitCode":"NOT_RUN"}]',
  );
  assert.equal(multi.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, undefined);
  assert.equal(extensionVariables({ ...common, operation: 'enable', uninstallExitCode: 2 }).AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, '2');
  const dis = extensionVariables({ ...common, operation: 'disable' });
  assert.equal(dis.ConfigSequenceNumber, '0');
  assert.equal(dis.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, undefined);
  assert.equal(dis.VERSION, undefined);
  assert.equal(dis.ConfigExtensionName, undefined);
});

test('a script without the execute bit is not-executable (exit 126)', async () => {
  const h = handler({ 'enable.sh': 'echo never' }, ['enable.sh']);
  const r = await runHandlerCommand(opts(h, 'enable.sh'));
  assert.equal(r.outcome, 'not-executable');
  assert.equal(r.exitCode, 126);
  assert.equal(r.errorCode, 1009);
  assert.ok(r.error);
  assert.match(r.error.context.reason as string, /cannot be executed: the file lacks the execute permission \(exit code 126\)$/);
  // no output to show: the reason takes its place in the reported message
  assert.equal(r.error.message, `Non-zero exit code: 126, enable.sh (enable of Test.Handler 1.0)\n${r.error.context.reason}`);
  assert.doesNotMatch(r.stdout, /never/);
});

test('a command missing from the handler dir is not-found (exit 127); an empty command is refused', async () => {
  const h = handler({ 'enable.sh': 'exit 0' });
  const r = await runHandlerCommand(opts(h, 'scripts/missing.sh'));
  assert.equal(r.outcome, 'not-found');
  assert.equal(r.exitCode, 127);
  assert.ok(r.error);
  const reason = `the enable command of Test.Handler 1.0 (scripts/missing.sh) does not exist in ${h.dir} (exit code 127)`;
  assert.equal(r.error.context.reason, reason);
  assert.equal(r.error.message, `Non-zero exit code: 127, scripts/missing.sh (enable of Test.Handler 1.0)\n${reason}`);
  // a 127 from inside an existing script is the script's own failure
  const h2 = handler({ 'enable.sh': 'no-such-tool-xyz' });
  assert.equal((await runHandlerCommand(opts(h2, 'enable.sh'))).outcome, 'failed');
  await assert.rejects(
    runHandlerCommand(opts(h, '  ')),
    (e: unknown) => isAgentError(e, 'extension') && /has no enable command/.test(e.message),
  );
});

test('a hanging command is killed at the timeout with every process of its group', async () => {
  const h = handler({ 'hang.sh': 'sleep 1000 & sleep 1000 & echo started; sleep 1000' });
  const t0 = Date.now();
  const r = await runHandlerCommand(opts(h, 'hang.sh', { operation: 'install', timeoutMs: 400 }));
  assert.ok(Date.now() - t0 < 3000, `returned after ${Date.now() - t0} ms`);
  assert.equal(r.outcome, 'timeout');
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, null);
  assert.equal(r.errorCode, 1011);
  assert.ok(r.error);
  assert.equal(
    r.error.context.reason,
    'the install command of Test.Handler 1.0 (hang.sh) did not finish within 0.4 seconds and was killed',
  );
  assert.equal(r.error.message, `Timeout(0.4): hang.sh (install of Test.Handler 1.0)\n${r.message}`.trimEnd());
  assert.equal(r.error.context.timeoutSeconds, 0.4);
  assert.equal(r.error.context.code, 1011);
  assert.equal(r.error.context.exitCode, null, 'a timeout hands on its code, not an exit code');
  assert.equal(r.stdout, 'started\n');
  assert.ok(r.pid > 0);
  assert.deepEqual(await waitForNoMembers(r.pid), []);
});

test('a background process holding stdout does not hold up a command that exited', async () => {
  const h = handler({ 'enable.sh': '(sleep 1000; echo late) & echo done; exit 0' });
  const t0 = Date.now();
  const r = await runHandlerCommand(opts(h, 'enable.sh'));
  try {
    assert.ok(Date.now() - t0 < 3000, `returned after ${Date.now() - t0} ms`);
    assert.equal(r.outcome, 'success');
    assert.equal(r.stdout, 'done\n');
    // left running on purpose (enable commands start daemons this way)
    assert.ok(groupMembers(r.pid).length > 0);
  } finally {
    killGroup(r.pid);
  }
});

test("a background writer left by an earlier run does not leak into the next run's output", async () => {
  const h = handler({ 'first.sh': '(sleep 0.4; echo late) & echo one', 'second.sh': 'sleep 0.8; echo two' });
  const a = await runHandlerCommand(opts(h, 'first.sh'));
  const b = await runHandlerCommand(opts(h, 'second.sh'));
  assert.equal(a.stdout, 'one\n');
  assert.equal(b.stdoutPath, a.stdoutPath);
  assert.equal(b.stdout, 'two\n');
  assert.equal(readFileSync(b.stdoutPath, 'utf8'), 'two\n');
});

test('the timeout holds even when a grandchild left the group (setsid) and keeps stdout open', async () => {
  const h = handler({ 'enable.sh': 'setsid sleep 1000 & echo $! > escaped.pid; sleep 1000' });
  const t0 = Date.now();
  const r = await runHandlerCommand(opts(h, 'enable.sh', { timeoutMs: 300 }));
  const escaped = Number(readFileSync(join(h.dir, 'escaped.pid'), 'utf8'));
  try {
    assert.ok(Date.now() - t0 < 3000, `returned after ${Date.now() - t0} ms`);
    assert.equal(r.outcome, 'timeout');
    assert.deepEqual(await waitForNoMembers(r.pid), []);
  } finally {
    if (escaped > 0) process.kill(escaped, 'SIGKILL');
  }
});

test('megabytes of output: the file keeps head and tail under the cap, the message stays within 3200 chars', async () => {
  const h = handler({
    'noisy.sh':
      'echo START; i=0; while [ $i -lt 20 ]; do head -c 100000 /dev/zero | tr "\\0" x; i=$((i+1)); sleep 0.03; done; echo; echo END; echo err-start >&2; head -c 300000 /dev/zero | tr "\\0" y >&2; echo >&2; echo err-end >&2',
  });
  const cap = 64 * 1024;
  const r = await runHandlerCommand(opts(h, 'noisy.sh', { maxOutputBytes: cap }));
  assert.equal(r.outcome, 'success');
  const out = readFileSync(r.stdoutPath, 'utf8');
  assert.ok(out.length < cap + 100, `stdout file is ${out.length} bytes`);
  assert.ok(out.startsWith('START\nxxxx'));
  assert.ok(out.endsWith('xxxx\nEND\n'), JSON.stringify(out.slice(-60)));
  const m = /\n\.\.\. \[(\d+) bytes of output omitted\] \.\.\.\n/.exec(out);
  assert.ok(m, 'truncation marker');
  // START\n + 2,000,000 x + \n + END\n were written. Kept plus counted-as-omitted cannot exceed that (bytes written
  // while the agent empties the file are dropped uncounted, so it may be a little less).
  const accounted = out.length - m[0].length + Number(m[1]);
  const written = 6 + 2_000_000 + 1 + 4;
  assert.ok(accounted <= written && accounted > written * 0.9, `accounted for ${accounted} of ${written} bytes`);
  const err = readFileSync(r.stderrPath, 'utf8');
  assert.ok(err.startsWith('err-start\nyyy') && err.endsWith('yyy\nerr-end\n'));
  assert.ok(statSync(r.stderrPath).size < cap + 100);
  assert.ok(r.message.length <= MESSAGE_MAX_CHARS);
  assert.ok(r.message.startsWith('[stdout]\n') && r.message.includes('\n\n[stderr]\n'));
  assert.equal(r.stdout.length, MESSAGE_MAX_CHARS);
  assert.ok(r.stdout.startsWith('START\n'));
});

test('a command killed by a signal is reported as such', async () => {
  const h = handler({ 'die.sh': 'echo dying; kill -9 $$' });
  const r = await runHandlerCommand(opts(h, 'die.sh'));
  assert.equal(r.outcome, 'signal');
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.exitCode, 137);
  assert.ok(r.error);
  assert.equal(r.error.context.reason, 'the enable command of Test.Handler 1.0 (die.sh) was killed by SIGKILL (exit code 137)');
  assert.equal(r.error.message, `Non-zero exit code: 137, die.sh (enable of Test.Handler 1.0)\n${r.message}`.trimEnd());
  assert.equal(r.stdout, 'dying\n');
});

test('output is redacted before it reaches the message', async () => {
  const h = handler({ 'leak.sh': 'echo "https://a.blob.core.windows.net/c/b?sv=2020&sig=SECRETSIG"' });
  const r = await runHandlerCommand(opts(h, 'leak.sh'));
  assert.doesNotMatch(r.message, /SECRETSIG/);
  assert.doesNotMatch(readFileSync(commandLogPath(h.logDir), 'utf8'), /SECRETSIG/);
});

test('formatOutput follows §5.8: both streams when they fit, else tails with the spare room given to the longer one', () => {
  assert.equal(formatOutput('a', 'b'), '[stdout]\na\n\n[stderr]\nb');
  const budget = MESSAGE_MAX_CHARS - 20;
  const long = 'o'.repeat(5000) + 'END';
  const shortErr = formatOutput(long, 'e'.repeat(10));
  assert.equal(shortErr.length, MESSAGE_MAX_CHARS);
  assert.ok(shortErr.endsWith('oooEND\n\n[stderr]\neeeeeeeeee'));
  const both = formatOutput('o'.repeat(4000), 'e'.repeat(4000) + 'Z');
  assert.equal(both.length, MESSAGE_MAX_CHARS);
  assert.equal(both, `[stdout]\n${'o'.repeat(budget / 2)}\n\n[stderr]\n${'e'.repeat(budget / 2 - 1)}Z`);
  const shortOut = formatOutput('hi', 'e'.repeat(9000));
  assert.equal(shortOut, `[stdout]\nhi\n\n[stderr]\n${'e'.repeat(budget - 2)}`);
  assert.equal(formatOutput('x'.repeat(budget - 1), 'y').length, MESSAGE_MAX_CHARS);
});

test('noexecMountFor finds the most specific mount and its noexec flag', () => {
  const mounts = [
    '/dev/sda1 / ext4 rw,relatime 0 0',
    '/dev/mapper/var /var xfs rw,noexec,relatime 0 0',
    '/dev/sdb1 /var/lib/waagent ext4 rw,relatime 0 0',
    '/dev/sdc1 /mnt/my\\040disk ext4 rw,noexec 0 0',
  ].join('\n');
  assert.equal(noexecMountFor('/var/lib/waagent/H-1.0', mounts), null);
  assert.equal(noexecMountFor('/var/lib/other/H-1.0', mounts), '/var');
  assert.equal(noexecMountFor('/variable/x', mounts), null);
  assert.equal(noexecMountFor('/mnt/my disk/H', mounts), '/mnt/my disk');
});

test('systemd scope: slice and unit names, and the systemd-run argv with and without resource limits', () => {
  assert.equal(
    extensionSliceName('Microsoft.Azure.Extensions.Custom-Script'),
    'azure-vmextensions-Microsoft.Azure.Extensions.Custom_Script.slice',
  );
  assert.equal(
    extensionSliceName('Microsoft.CPlat.Core.RunCommandHandlerLinux', 'my-cmd'),
    'azure-vmextensions-Microsoft.CPlat.Core.RunCommandHandlerLinux.my_cmd.slice',
  );
  assert.equal(scopeUnitName('Publisher.Type', 1700000000123), 'Publisher.Type_1700000000123');
  assert.equal(scopeUnitName('a b/c', 5), 'a_b_c_5');
  const command = ['/bin/sh', '-c', "'/lib/H-1.0/'bin/enable.sh"];
  assert.deepEqual(
    scopeArgv({ systemdRun: '/usr/bin/systemd-run', unit: 'H_1', slice: 'azure-vmextensions-H.slice', owner: 'H', command }),
    [
      '/usr/bin/systemd-run',
      '--property=CPUAccounting=no',
      '--property=MemoryAccounting=no',
      '--unit=H_1',
      '--scope',
      '--slice=azure-vmextensions-H.slice',
      ...command,
    ],
  );
  assert.deepEqual(
    scopeArgv({
      systemdRun: 'systemd-run',
      unit: 'H_1',
      slice: 'S.slice',
      owner: 'H',
      limits: { cpuQuotaPercentage: 50, memoryQuotaInMB: 256 },
      command,
    }).slice(0, 3),
    ['systemd-run', '--property=CPUQuota=50%', '--property=MemoryMax=256M'],
  );
  assert.throws(
    () => scopeArgv({ systemdRun: 'systemd-run', unit: 'H_1', slice: 'S.slice', owner: 'H', limits: { cpuQuotaPercentage: -5 }, command }),
    (e: unknown) =>
      isAgentError(e, 'extension') && e.message === 'the resource limit cpuQuotaPercentage of H is -5, expected a positive number',
  );
  assert.equal(scopeStarted('Running scope as unit: H_1.scope\nboom\n', 'H_1'), true);
  assert.equal(scopeStarted('Failed to start transient scope unit: Access denied\n', 'H_1'), false);
  assert.equal(scopeStarted('Running scope as unit: H_1.scope\nUnit H_1.scope not found.\n', 'H_1'), false);
});

/** A stand-in systemd-run: records its argv, prints the scope line, then runs the command after `--slice=…`. */
function fakeSystemdRun(root: string, body: string): { path: string; calls: () => string[] } {
  mkdirSync(root, { recursive: true });
  const path = join(root, 'systemd-run');
  const calls = join(root, 'systemd-run.calls');
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${calls}'\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []) };
}

const SCOPE_OK =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, run by sh
  'for a; do shift; case "$a" in --unit=*) u=${a#--unit=};; --slice=*) break;; esac; done\necho "Running scope as unit: $u.scope" >&2\nexec "$@"';

test('with systemd the command runs inside the scope of its slice', async () => {
  const h = handler({ 'enable.sh': 'echo in-scope; exit 4' });
  const runDir = join(h.root, 'run-systemd');
  mkdirSync(runDir);
  const fake = fakeSystemdRun(h.root, SCOPE_OK);
  const r = await runHandlerCommand(
    opts(h, 'enable.sh', { useSystemd: true, sliceLimits: { cpuQuotaPercentage: 25 }, systemd: { runDir, systemdRun: fake.path } }),
  );
  assert.equal(r.outcome, 'failed');
  assert.equal(r.exitCode, 4);
  assert.match(r.scope ?? '', /^Test\.Handler_\d+\.scope$/);
  assert.equal(r.stdout, 'in-scope\n');
  const calls = fake.calls();
  assert.equal(calls.length, 1, 'an extension failure inside the scope is not retried');
  assert.match(
    calls[0]!,
    /^--property=CPUQuota=25% --property=MemoryAccounting=no --unit=Test\.Handler_\d+ --scope --slice=azure-vmextensions-Test\.Handler\.slice \/bin\/sh -c /,
  );
});

test('a timeout inside a scope also kills what is left in the scope', async () => {
  const h = handler({ 'enable.sh': 'sleep 1000' });
  const runDir = join(h.root, 'run-systemd');
  mkdirSync(runDir);
  const fake = fakeSystemdRun(h.root, SCOPE_OK);
  const systemctl = fakeSystemdRun(join(h.root, 'ctl'), 'exit 0');
  const r = await runHandlerCommand(
    opts(h, 'enable.sh', { timeoutMs: 300, useSystemd: true, systemd: { runDir, systemdRun: fake.path, systemctl: systemctl.path } }),
  );
  assert.equal(r.outcome, 'timeout');
  assert.ok(r.scope);
  assert.deepEqual(systemctl.calls(), [`kill --signal=SIGKILL ${r.scope}`]);
});

test('when systemd-run cannot start the scope the command runs again without it, and is not reported as failed', async () => {
  const h = handler({ 'enable.sh': 'echo ran >> runs.log; echo ok' });
  const runDir = join(h.root, 'run-systemd');
  mkdirSync(runDir);
  const fake = fakeSystemdRun(h.root, 'echo "Failed to start transient scope unit: Connection timed out" >&2; exit 1');
  const r = await runHandlerCommand(opts(h, 'enable.sh', { useSystemd: true, systemd: { runDir, systemdRun: fake.path } }));
  assert.equal(r.outcome, 'success');
  assert.equal(r.scope, null);
  assert.equal(r.stdout, 'ok\n');
  assert.equal(r.stderr, '', 'the systemd-run complaint is not left in the output');
  assert.equal(fake.calls().length, 1);
  assert.equal(readFileSync(join(h.dir, 'runs.log'), 'utf8'), 'ran\n');
});

test('without a running systemd (no /run/systemd/system) the command runs as a plain process group', async () => {
  const h = handler({ 'enable.sh': 'echo plain' });
  const fake = fakeSystemdRun(h.root, SCOPE_OK);
  const r = await runHandlerCommand(
    opts(h, 'enable.sh', { useSystemd: true, systemd: { runDir: join(h.root, 'absent'), systemdRun: fake.path } }),
  );
  assert.equal(r.outcome, 'success');
  assert.equal(r.scope, null);
  assert.deepEqual(fake.calls(), []);
});

test('CommandExecution.log is head-truncated: the oldest whole lines go first', () => {
  const root = mkdtempSync(join(tmpdir(), 'waagent-extcmd-'));
  made.push(root);
  const p = commandLogPath(root, 'ext1');
  assert.equal(p, join(root, 'CommandExecution_ext1.log'));
  for (let i = 0; i < 20; i++) appendCommandLog(p, `entry number ${i}`, 300);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.length <= 300, `${text.length} bytes`);
  assert.match(text, /entry number 19\n$/);
  assert.doesNotMatch(text, /entry number 0\n/);
  assert.ok(
    text
      .split('\n')
      .slice(0, -1)
      .every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z entry number \d+$/.test(l)),
  );
});
