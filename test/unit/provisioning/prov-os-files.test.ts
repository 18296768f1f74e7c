import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { log } from '../../../src/log/logger.ts';
import { decodeBase64, handleCustomData } from '../../../src/provisioning/custom-data.ts';
import { deleteRootPassword, lockRootEntry } from '../../../src/provisioning/root-password.ts';
import { configOn, rejectsWith, tempRoot } from './prov-helpers.ts';

describe('Provisioning.DeleteRootPassword (§4.4 step 10)', () => {
  it('puts the locked root entry first, keeps the others, mode and owner', () => {
    const root = tempRoot();
    const shadow = join(root, 'shadow');
    writeFileSync(shadow, 'daemon:*:19000:0:99999:7:::\nroot:$6$abc$def:19000:0:99999:7:::\nalice:!:19000::::::\n');
    chmodSync(shadow, 0o640);
    deleteRootPassword(configOn(root));
    assert.equal(readFileSync(shadow, 'utf8'), 'root:*LOCK*:14600::::::\ndaemon:*:19000:0:99999:7:::\nalice:!:19000::::::\n');
    assert.equal(statSync(shadow).mode & 0o777, 0o640);
  });
  it('adds the entry when root has none', () => {
    assert.equal(lockRootEntry('alice:!:1::::::'), 'root:*LOCK*:14600::::::\nalice:!:1::::::\n');
  });
  it('names the file it cannot read', async () => {
    const root = tempRoot();
    await rejectsWith(() => deleteRootPassword(configOn(root)), 'provisioning', /cannot read the password file .*shadow/);
  });
});

describe('CustomData (§4.4 step 9)', () => {
  const script = '#!/bin/sh\necho "ran in $(pwd)"\necho oops >&2\nexit 4\n';
  const b64 = Buffer.from(script).toString('base64');

  it('saves the base64 text as given by default, mode 0600', async () => {
    const root = tempRoot();
    const r = await handleCustomData(configOn(root), b64);
    assert.deepEqual(r, { path: join(root, 'lib', 'CustomData'), decoded: false });
    assert.equal(readFileSync(r.path, 'utf8'), b64);
    assert.equal(statSync(r.path).mode & 0o777, 0o600);
  });

  it('decodes with DecodeCustomData, ignoring whitespace in the base64', async () => {
    const root = tempRoot();
    const wrapped = b64.replace(/(.{16})/g, '$1\n  ');
    const r = await handleCustomData(configOn(root, { 'Provisioning.DecodeCustomData': true }), wrapped);
    assert.equal(readFileSync(r!.path, 'utf8'), script);
    assert.equal(r!.exitCode, undefined);
  });

  it('executes with ExecuteCustomData in Lib.Dir and logs its output, a non-zero exit only warns', async () => {
    const root = tempRoot();
    const lines: string[] = [];
    log.addSink({ write: (l) => lines.push(l) });
    try {
      const r = await handleCustomData(configOn(root, { 'Provisioning.ExecuteCustomData': true }), b64);
      assert.equal(r!.exitCode, 4);
      assert.equal(statSync(r!.path).mode & 0o777, 0o700);
      const line = lines.find((l) => l.includes('CustomData script exited'));
      assert.ok(line?.includes(` WARNING `) && line.includes(`ran in ${join(root, 'lib')}`) && line.includes('oops'), line);
    } finally {
      log.reset();
    }
  });

  it('bounds the run time of the script', async () => {
    const root = tempRoot();
    const slow = Buffer.from('#!/bin/sh\nsleep 30\n').toString('base64');
    const t0 = Date.now();
    await rejectsWith(
      handleCustomData(configOn(root, { 'Provisioning.ExecuteCustomData': true }), slow, { timeoutMs: 300 }),
      'provisioning',
      /CustomData script .* could not be run: .*timed out after 300 ms/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('does nothing without custom data, and rejects malformed base64 before writing', async () => {
    const root = tempRoot();
    assert.equal(await handleCustomData(configOn(root), '  '), null);
    await rejectsWith(
      handleCustomData(configOn(root, { 'Provisioning.DecodeCustomData': true }), 'not base64!'),
      'provisioning',
      /not valid base64/,
    );
    assert.equal(existsSync(join(root, 'lib', 'CustomData')), false);
    assert.throws(() => decodeBase64('abc'), /not valid base64/);
  });
});
