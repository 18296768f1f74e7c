import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../../src/os/exec.ts';
import { hostKeyFingerprint, isHostKeyFile, prepareHostKeys, regenerateHostKeys } from '../../../src/provisioning/host-keys.ts';
import { configOn, rejectsWith, tempRoot } from './prov-helpers.ts';

function sshRoot(): string {
  const root = tempRoot();
  mkdirSync(join(root, 'ssh'));
  for (const n of ['ssh_host_rsa_key', 'ssh_host_rsa_key.pub', 'ssh_host_dsa_key', 'ssh_host_dsa_key-cert.pub', 'sshd_config', 'moduli']) {
    writeFileSync(join(root, 'ssh', n), 'old');
  }
  return root;
}

describe('SSH host keys (§4.4 step 11)', () => {
  it('selects the host key files as upstream deletes them', () => {
    assert.deepEqual(
      ['ssh_host_rsa_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key-cert.pub', 'sshd_config', 'ssh_known_hosts', 'moduli'].filter(
        isHostKeyFile,
      ),
      ['ssh_host_rsa_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key-cert.pub'],
    );
  });

  it('replaces every host key with a fresh one of the configured type, leaving the other files', async () => {
    const root = sshRoot();
    const config = configOn(root, { 'Provisioning.SshHostKeyPairType': 'ed25519' });
    assert.equal(await regenerateHostKeys(config), true);
    assert.deepEqual(readdirSync(join(root, 'ssh')).sort(), ['moduli', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'sshd_config']);
    const fp = hostKeyFingerprint(config);
    const expected = (await run(['ssh-keygen', '-lf', join(root, 'ssh', 'ssh_host_ed25519_key.pub')])).stdout.split(' ')[1];
    assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(fp, expected);
  });

  it('auto makes rsa, ecdsa and ed25519 and takes the rsa fingerprint', async () => {
    const root = sshRoot();
    const config = configOn(root, { 'Provisioning.SshHostKeyPairType': 'auto' });
    await regenerateHostKeys(config);
    const keys = readdirSync(join(root, 'ssh')).filter(isHostKeyFile).sort();
    assert.deepEqual(keys, [
      'ssh_host_ecdsa_key',
      'ssh_host_ecdsa_key.pub',
      'ssh_host_ed25519_key',
      'ssh_host_ed25519_key.pub',
      'ssh_host_rsa_key',
      'ssh_host_rsa_key.pub',
    ]);
    assert.notEqual(readFileSync(join(root, 'ssh', 'ssh_host_rsa_key'), 'utf8'), 'old');
    const rsa = (await run(['ssh-keygen', '-lf', join(root, 'ssh', 'ssh_host_rsa_key.pub')])).stdout;
    assert.ok(rsa.includes(hostKeyFingerprint(config)) && rsa.includes('(RSA)'));
  });

  it('prepared keys are made outside OS.SshDir: install puts them in place (0600 / 0644) and removes the temporary directory', async () => {
    const root = sshRoot();
    const config = configOn(root, { 'Provisioning.SshHostKeyPairType': 'ed25519' });
    const keys = prepareHostKeys(config);
    // generation runs outside OS.SshDir: until install(), the old keys stay
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(readFileSync(join(root, 'ssh', 'ssh_host_rsa_key'), 'utf8'), 'old');
    assert.equal(await keys.install(), true);
    assert.deepEqual(readdirSync(join(root, 'ssh')).filter(isHostKeyFile).sort(), ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
    assert.equal(statSync(join(root, 'ssh', 'ssh_host_ed25519_key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'ssh', 'ssh_host_ed25519_key.pub')).mode & 0o777, 0o644);
    assert.match(hostKeyFingerprint(config), /^SHA256:/);
    assert.deepEqual(readdirSync(join(root, 'lib')), [], 'no temporary key directory is left in Lib.Dir');
  });

  it('auto: install() puts ed25519 and ECDSA in place and leaves RSA to installDeferred(), which adds it beside them', async () => {
    const root = sshRoot();
    const config = configOn(root, { 'Provisioning.SshHostKeyPairType': 'auto' });
    const keys = prepareHostKeys(config);
    assert.deepEqual(keys.deferred, ['rsa']);
    assert.equal(await keys.install(), true);
    const listed = () => readdirSync(join(root, 'ssh')).filter(isHostKeyFile).sort();
    assert.deepEqual(listed(), ['ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
    const ed25519 = readFileSync(join(root, 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8');
    assert.deepEqual(await keys.installDeferred(), ['rsa']);
    assert.equal(listed().length, 6);
    assert.equal(readFileSync(join(root, 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8'), ed25519, 'the others stay');
    assert.equal(statSync(join(root, 'ssh', 'ssh_host_rsa_key')).mode & 0o777, 0o600);
    assert.match((await run(['ssh-keygen', '-lf', join(root, 'ssh', 'ssh_host_rsa_key.pub')])).stdout, /^3072 .*\(RSA\)/);
    assert.deepEqual(readdirSync(join(root, 'lib')), [], 'no temporary key directory is left in Lib.Dir');
  });

  it('a single configured type defers nothing; `only` replaces just those types (a restart finishing pending keys)', async () => {
    const root = sshRoot();
    assert.deepEqual(prepareHostKeys(configOn(root, { 'Provisioning.SshHostKeyPairType': 'rsa' })).deferred, []);
    const config = configOn(root, { 'Provisioning.SshHostKeyPairType': 'auto' });
    const keys = prepareHostKeys(config, ['rsa']);
    assert.deepEqual(keys.deferred, []);
    assert.equal(await keys.install(), true);
    const names = readdirSync(join(root, 'ssh')).filter(isHostKeyFile).sort();
    // the old DSA key and its certificate stay: only rsa was asked for
    assert.deepEqual(names, ['ssh_host_dsa_key', 'ssh_host_dsa_key-cert.pub', 'ssh_host_rsa_key', 'ssh_host_rsa_key.pub']);
    assert.notEqual(readFileSync(join(root, 'ssh', 'ssh_host_rsa_key'), 'utf8'), 'old');
  });

  it('discarded prepared keys change nothing in OS.SshDir and leave no temporary files', async () => {
    const root = sshRoot();
    const before = readdirSync(join(root, 'ssh')).sort();
    const keys = prepareHostKeys(configOn(root, { 'Provisioning.SshHostKeyPairType': 'ed25519' }));
    await keys.discard();
    assert.deepEqual(readdirSync(join(root, 'ssh')).sort(), before);
    assert.equal(readFileSync(join(root, 'ssh', 'ssh_host_rsa_key'), 'utf8'), 'old');
    assert.deepEqual(readdirSync(join(root, 'lib')), []);
  });

  it('leaves the keys alone when regeneration is off', async () => {
    const root = sshRoot();
    assert.equal(await regenerateHostKeys(configOn(root, { 'Provisioning.RegenerateSshHostKeyPair': false })), false);
    assert.equal(readFileSync(join(root, 'ssh', 'ssh_host_rsa_key'), 'utf8'), 'old');
  });

  it('fails clearly for a missing or broken public key and an unknown type', async () => {
    const root = sshRoot();
    await rejectsWith(
      () => hostKeyFingerprint(configOn(root)),
      'provisioning',
      /cannot read the fingerprint of the SSH host key .*ssh_host_rsa_key\.pub: the text is not an OpenSSH public key line/,
    );
    await rejectsWith(
      () => hostKeyFingerprint(configOn(root, { 'Provisioning.SshHostKeyPairType': 'ecdsa' })),
      'provisioning',
      /ssh_host_ecdsa_key\.pub: the file does not exist/,
    );
    await rejectsWith(
      regenerateHostKeys(configOn(root, { 'Provisioning.SshHostKeyPairType': 'rsa1' })),
      'config',
      /SshHostKeyPairType=rsa1 is not one of/,
    );
    assert.ok(existsSync(join(root, 'ssh', 'ssh_host_rsa_key')), 'nothing deleted for a bad type');
  });
});
