// The one process runner (src/os/exec.ts): timeouts that kill the whole group, output straight to files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAgentError } from '../../../src/util/errors.ts';
import { run } from '../../../src/os/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'waagent-exec-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

test('run captures stdout, stderr and the exit code, and throws on failure unless allowed', async () => {
  const r = await run(['sh', '-c', 'echo out; echo err >&2']);
  assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut], [0, 'out\n', 'err\n', false]);
  assert.ok(r.pid > 0);
  await assert.rejects(run(['sh', '-c', 'exit 5']), (e: unknown) => isAgentError(e, 'command') && e.context.exitCode === 5);
  assert.equal((await run(['sh', '-c', 'exit 5'], { allowFailure: true })).code, 5);
});

test('a timeout rejects by default and resolves with timedOut under allowTimeout', async () => {
  await assert.rejects(
    run(['sleep', '5'], { timeoutMs: 100 }),
    (e: unknown) => isAgentError(e, 'command') && /timed out after 100 ms/.test(e.message),
  );
  const r = await run(['sleep', '5'], { timeoutMs: 100, allowTimeout: true });
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGKILL');
});

test('after a timeout kill the call returns even when an escaped grandchild holds the output pipe', async () => {
  const t0 = Date.now();
  const r = await run(['sh', '-c', 'setsid sleep 30 & echo $!; sleep 30'], { timeoutMs: 300, allowTimeout: true, processGroup: true });
  const escaped = Number(r.stdout.trim());
  try {
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - t0 < 3000, `returned after ${Date.now() - t0} ms`);
  } finally {
    if (escaped > 0) process.kill(escaped, 'SIGKILL');
  }
});

test('outputFds sends the output to files and the call does not wait for a background writer', async () => {
  const outPath = join(dir, 'out');
  const out = openSync(outPath, 'w');
  const err = openSync(join(dir, 'err'), 'w');
  const t0 = Date.now();
  const r = await run(['sh', '-c', 'echo first; (sleep 1.5; echo later) & exit 0'], {
    outputFds: { stdout: out, stderr: err },
    processGroup: true,
  });
  closeSync(out);
  closeSync(err);
  assert.ok(Date.now() - t0 < 1200, `returned after ${Date.now() - t0} ms`);
  assert.equal(r.stdout, '');
  assert.equal(readFileSync(outPath, 'utf8'), 'first\n');
  await new Promise((res) => setTimeout(res, 2000));
  assert.equal(readFileSync(outPath, 'utf8'), 'first\nlater\n', 'the background writer kept its stdout');
});
