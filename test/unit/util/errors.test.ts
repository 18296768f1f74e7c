// The typed error: its one-sentence description, its sub-kind, and any thrown value turned into one for the reports.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AgentError, describeError, isAgentError, toAgentError } from '../../../src/util/errors.ts';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return assert.fail('expected a throw');
}

describe('errors', () => {
  it('describes Node errors once: a system error names its errno already, another gets its code added', async () => {
    assert.equal(
      describeError(thrown(() => readFileSync('/nonexistent/waagent-test'))),
      "ENOENT: no such file or directory, open '/nonexistent/waagent-test'",
    );
    const spawnError = await new Promise<unknown>((resolve) => spawn('/nonexistent/waagent-tool').once('error', resolve));
    assert.equal(describeError(spawnError), 'spawn /nonexistent/waagent-tool ENOENT');
    assert.match(describeError(thrown(() => Buffer.alloc(-1))), /^The value of "size" is out of range\. .* \(ERR_OUT_OF_RANGE\)$/);
    assert.equal(describeError(new AgentError('io', 'the disk is full', { path: '/x' })), 'the disk is full');
    assert.equal(describeError('plain'), 'plain');
  });

  it('tells errors apart by kind and subkind, never by their text', () => {
    const e = new AgentError('protocol', 'the goal state has no RoleInstance', {}, undefined, 'missing-role-instance');
    assert.equal(isAgentError(e, 'protocol', 'missing-role-instance'), true);
    assert.equal(isAgentError(e, undefined, 'missing-role-instance'), true);
    assert.equal(isAgentError(e, 'protocol', 'not-found'), false);
    assert.equal(isAgentError(e, 'http'), false);
    assert.equal(isAgentError(new AgentError('protocol', e.message), 'protocol', 'missing-role-instance'), false, 'same text, no subkind');
    assert.equal(new AgentError('io', 'x').subkind, undefined);
  });

  it('turns any thrown value into an AgentError for the reports', () => {
    const same = new AgentError('command', 'x');
    assert.equal(toAgentError(same), same);
    const fsError = thrown(() => readFileSync('/nonexistent/waagent-test'));
    const wrapped = toAgentError(fsError);
    assert.deepEqual(
      [wrapped.kind, wrapped.message, wrapped.context, wrapped.cause],
      ['unexpected', "ENOENT: no such file or directory, open '/nonexistent/waagent-test'", { errno: 'ENOENT', syscall: 'open' }, fsError],
    );
    assert.equal(wrapped.exitCode, 1);
    assert.deepEqual([toAgentError(42).kind, toAgentError(42).message, toAgentError(42).context], ['unexpected', '42', {}]);
  });
});
