import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../../src/os/exec.ts';
import { grantSudo, withSudoersLine } from '../../../src/os/sudoers.ts';
import { configOn, rejectsWith, tempRoot } from '../provisioning/prov-helpers.ts';

async function visudoAccepts(path: string): Promise<void> {
  const r = await run(['visudo', '-c', '-f', path], { allowFailure: true });
  assert.equal(r.code, 0, `visudo -c -f ${path}: ${r.stdout}${r.stderr}`);
}

describe('sudoers drop-in (§4.4, §10 item 34)', () => {
  it('grants NOPASSWD only without a password, mode 0440, valid for visudo', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'sudoers.d'));
    const config = configOn(root);
    const file = join(root, 'sudoers.d', 'waagent');
    await grantSudo(config, 'alice', false);
    assert.equal(readFileSync(file, 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\n');
    assert.equal(statSync(file).mode & 0o777, 0o440);
    await visudoAccepts(file);
    await grantSudo(config, 'bob', true);
    assert.equal(readFileSync(file, 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n');
    await visudoAccepts(file);
    // the main sudoers file is not touched when the directory exists
    assert.equal(existsSync(join(root, 'sudoers')), false);
  });

  it('does not duplicate a line, and drops NOPASSWD when the user now has a password', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'sudoers.d'));
    const config = configOn(root);
    const file = join(root, 'sudoers.d', 'waagent');
    await grantSudo(config, 'alice', false);
    await grantSudo(config, 'alice', false);
    assert.equal(readFileSync(file, 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\n');
    await grantSudo(config, 'alice', true);
    assert.equal(readFileSync(file, 'utf8'), 'alice ALL=(ALL) ALL\n');
  });

  it('keeps other lines and a missing final newline', () => {
    assert.equal(withSudoersLine('# ours\ncarol ALL=(ALL) ALL', 'alice', true), '# ours\ncarol ALL=(ALL) ALL\nalice ALL=(ALL) ALL\n');
  });

  it('creates the directory and appends #includedir to the main sudoers once', async () => {
    const root = tempRoot();
    const main = join(root, 'sudoers');
    writeFileSync(main, 'root ALL=(ALL:ALL) ALL\n');
    chmodSync(main, 0o440);
    const config = configOn(root);
    await grantSudo(config, 'alice', true);
    const dir = join(root, 'sudoers.d');
    assert.equal(readFileSync(main, 'utf8'), `root ALL=(ALL:ALL) ALL\n\n#includedir ${dir}\n`);
    assert.equal(statSync(main).mode & 0o777, 0o440);
    await visudoAccepts(main); // parses the include and our drop-in through it
    assert.equal(readFileSync(join(dir, 'waagent'), 'utf8'), 'alice ALL=(ALL) ALL\n');
  });

  it('rejects a user name that would break the rule, writing nothing', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'sudoers.d'));
    await rejectsWith(
      grantSudo(configOn(root), 'eve ALL=(ALL) NOPASSWD: ALL\nmallory', false),
      'provisioning',
      /cannot be written into a sudoers rule/,
    );
    assert.equal(existsSync(join(root, 'sudoers.d', 'waagent')), false);
  });

  it('refuses to write a drop-in that visudo rejects, keeping the old file', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'sudoers.d'));
    const file = join(root, 'sudoers.d', 'waagent');
    writeFileSync(file, 'broken ALL=(ALL\n');
    await rejectsWith(grantSudo(configOn(root), 'alice', true), 'provisioning', /rejected by visudo/);
    assert.equal(readFileSync(file, 'utf8'), 'broken ALL=(ALL\n');
  });
});
