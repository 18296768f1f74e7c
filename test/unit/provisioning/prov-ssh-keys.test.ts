import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../../src/os/exec.ts';
import {
  appendAuthorizedKeys,
  deployKeyPair,
  deployPublicKey,
  inlineKeys,
  resolveKeyPath,
  type Owner,
} from '../../../src/provisioning/ssh-keys.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { configOn, rejectsWith, tempRoot } from './prov-helpers.ts';

const WIRE = join(FIXTURES, 'tests/data/wire');
/** alice, whose home directory (made here) is <root>/home/alice */
function ownerIn(root: string): Owner {
  const home = join(root, 'home', 'alice');
  mkdirSync(home, { recursive: true });
  return { name: 'alice', uid: 1234, gid: 2345, home };
}
/** An SSH wire-format string (uint32 length, bytes). */
function len(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
}

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJtHTsDvOEuyAcMpjoGrcBSHJbi0XMz8Ro8xMAmLFyQ';

async function keygenPublic(privatePem: string): Promise<string> {
  const dir = tempRoot();
  writeFileSync(join(dir, 'k'), privatePem, { mode: 0o600 });
  return (await run(['ssh-keygen', '-y', '-f', join(dir, 'k')])).stdout.trim();
}

describe('SSH keys (§4.7)', () => {
  it('$HOME means OS.HomeDir, paths are normalised and must be absolute', async () => {
    const config = configOn('/r');
    assert.equal(resolveKeyPath(config, '$HOME/alice/.ssh/authorized_keys'), '/r/home/alice/.ssh/authorized_keys');
    assert.equal(resolveKeyPath(config, '/home/./bob//.ssh/authorized_keys'), '/home/bob/.ssh/authorized_keys');
    await rejectsWith(
      () => resolveKeyPath(config, 'alice/.ssh/authorized_keys'),
      'provisioning',
      /"alice\/.ssh\/authorized_keys" does not name an absolute file path/,
    );
  });

  it('inline keys: CRLF stripped, exactly one key line of a known type whose data names that type', async () => {
    assert.deepEqual(inlineKeys(`${KEY} me\r\n`), [`${KEY} me`]);
    assert.deepEqual(inlineKeys(`  ${KEY}\n`), [KEY]);
    const ecdsa = `ecdsa-sha2-nistp256 ${Buffer.concat([len('ecdsa-sha2-nistp256'), len('nistp256'), len('\x04xy')]).toString('base64')} a@b`;
    assert.deepEqual(inlineKeys(ecdsa), [ecdsa], 'ECDSA keys are accepted (upstream refuses them)');
    await rejectsWith(() => inlineKeys(' \r\n'), 'provisioning', /is empty/);
    await rejectsWith(
      () => inlineKeys('ecdsa-sha2-nistp256 AAAA'),
      'provisioning',
      /refused: the OpenSSH key data does not match its type ecdsa-sha2-nistp256/,
    );
    await rejectsWith(() => inlineKeys(`${KEY} me\ncommand="/bin/sh" ${KEY}`), 'provisioning', /refused: the key is more than one line/);
    await rejectsWith(() => inlineKeys(`${KEY}\r\n${KEY}`), 'provisioning', /more than one line/);
    await rejectsWith(
      () => inlineKeys(`command="cat /etc/shadow" ${KEY}`),
      'provisioning',
      /"command=\\"cat \/etc\/shadow…" in ovf-env.xml is refused: "command=\\"cat" is not an OpenSSH public key type/,
    );
    await rejectsWith(() => inlineKeys('ssh-rsa'), 'provisioning', /not an OpenSSH public key line/);
    await rejectsWith(() => inlineKeys('ssh-rsa not!base64'), 'provisioning', /the ssh-rsa key data is not base64/);
    // The data of an ed25519 key under an RSA type: decodes, but names another type.
    await rejectsWith(() => inlineKeys(`ssh-rsa ${KEY.split(' ')[1]}`), 'provisioning', /does not match its type ssh-rsa/);
    await rejectsWith(() => inlineKeys(`${KEY} a\x1bb`), 'provisioning', /control characters/);
  });

  it('appends without duplicating a key, whatever its comment or options', () => {
    const existing = `# from ignition\ncommand="x" ${KEY} core@flatcar`;
    assert.equal(appendAuthorizedKeys(existing, [`${KEY} other-comment`]), existing + '\n');
    assert.equal(appendAuthorizedKeys('', [`${KEY} a`, `${KEY} b`]), `${KEY} a\n`);
  });

  it('deploys an inline key next to the keys already there, .ssh 0700 and files owned by the user', async () => {
    const root = tempRoot();
    const config = configOn(root);
    const ssh = join(root, 'home', 'alice', '.ssh');
    mkdirSync(ssh, { recursive: true, mode: 0o755 });
    writeFileSync(join(ssh, 'authorized_keys'), 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQignition core\n');
    const path = await deployPublicKey(config, ownerIn(root), {
      path: '$HOME/alice/.ssh/authorized_keys',
      value: `${KEY} alice\r\n`,
      fingerprint: 'ignored-when-a-value-is-given',
    });
    assert.equal(readFileSync(path, 'utf8'), `ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQignition core\n${KEY} alice\n`);
    const st = statSync(path);
    assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o644, 1234, 2345]);
    const d = statSync(ssh);
    assert.deepEqual([d.mode & 0o777, d.uid, d.gid], [0o700, 1234, 2345]);
  });

  it('deploys the key of a certificate by thumbprint, keeping its SPKI PEM as <FP>.pub 0600', async () => {
    const root = tempRoot();
    const config = configOn(root);
    const work = tempRoot();
    await run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(work, 'k.pem'),
      '-out',
      join(work, 'c.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=t',
    ]);
    const cert = readFileSync(join(work, 'c.pem'), 'utf8');
    const fp = new X509Certificate(cert).fingerprint.replace(/:/g, '');
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib', `${fp}.crt`), cert);
    const path = await deployPublicKey(config, ownerIn(root), { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: fp.toLowerCase() });
    const expected = await keygenPublic(readFileSync(join(work, 'k.pem'), 'utf8'));
    assert.equal(readFileSync(path, 'utf8').trim().split(' ').slice(0, 2).join(' '), expected.split(' ').slice(0, 2).join(' '));
    const pub = join(root, 'lib', `${fp}.pub`);
    assert.match(readFileSync(pub, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(statSync(pub).mode & 0o777, 0o600);
  });

  it('fails clearly for a thumbprint without a certificate, or a key with neither', async () => {
    const root = tempRoot();
    const fp = 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9';
    await rejectsWith(
      deployPublicKey(configOn(root), ownerIn(root), { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: fp }),
      'provisioning',
      new RegExp(`certificate for the SSH key thumbprint ${fp} was not found`),
    );
    await rejectsWith(
      deployPublicKey(configOn(root), ownerIn(root), { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: 'zz' }),
      'provisioning',
      /"zz" is not a SHA-1 thumbprint/,
    );
    await rejectsWith(
      deployPublicKey(configOn(root), ownerIn(root), { path: '$HOME/alice/.ssh/authorized_keys' }),
      'provisioning',
      /has neither a value nor a thumbprint/,
    );
  });

  it('deploys a key pair: private key 0600, OpenSSH public key 0644 (the deliberate fix of upstream modes)', async () => {
    const root = tempRoot();
    const config = configOn(root);
    const fp = 'B'.repeat(40);
    mkdirSync(join(root, 'lib'));
    copyFileSync(join(WIRE, 'rsa-key.pem'), join(root, 'lib', `${fp}.prv`));
    const path = await deployKeyPair(config, ownerIn(root), { path: '$HOME/alice/.ssh/id_rsa', fingerprint: fp });
    assert.equal(readFileSync(path, 'utf8'), readFileSync(join(WIRE, 'rsa-key.pem'), 'utf8'));
    assert.deepEqual([statSync(path).mode & 0o777, statSync(path).uid], [0o600, 1234]);
    assert.deepEqual([statSync(`${path}.pub`).mode & 0o777, statSync(`${path}.pub`).uid], [0o644, 1234]);
    const expected = await keygenPublic(readFileSync(join(WIRE, 'rsa-key.pem'), 'utf8'));
    assert.equal(readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '), expected.split(' ').slice(0, 2).join(' '));
    await rejectsWith(
      deployKeyPair(config, ownerIn(root), { path: '$HOME/alice/.ssh/id2', fingerprint: 'C'.repeat(40) }),
      'provisioning',
      /private key for the SSH key thumbprint C{40} was not found/,
    );
  });

  // Hostile input: the platform names a path outside the home, or the user planted links before provisioning.
  it("refuses key paths outside the user's home directory, and writes nothing there", async () => {
    const root = tempRoot();
    const config = configOn(root);
    mkdirSync(join(root, 'etc', 'cron.d'), { recursive: true });
    for (const path of [
      join(root, 'etc', 'cron.d', 'x'),
      join(root, 'root', '.ssh', 'authorized_keys'),
      '$HOME/alice/../../etc/cron.d/y',
      '$HOME/bob/.ssh/authorized_keys',
    ]) {
      await rejectsWith(
        deployPublicKey(config, ownerIn(root), { path, value: KEY }),
        'provisioning',
        /is outside the home directory of alice \(/,
      );
    }
    assert.ok(!existsSync(join(root, 'etc', 'cron.d', 'x')) && !existsSync(join(root, 'etc', 'cron.d', 'y')));
    assert.ok(!existsSync(join(root, 'root')) && !existsSync(join(root, 'home', 'bob')));
  });

  it('a planted authorized_keys link is replaced, never read through (the Python agent copies its target)', async () => {
    const root = tempRoot();
    const secret = join(root, 'shadow');
    writeFileSync(secret, 'root:$6$secret-hash:19000::::::\n', { mode: 0o600 });
    const owner = ownerIn(root);
    mkdirSync(join(owner.home, '.ssh'));
    symlinkSync(secret, join(owner.home, '.ssh', 'authorized_keys'));
    const path = await deployPublicKey(configOn(root), owner, { path: '$HOME/alice/.ssh/authorized_keys', value: KEY });
    assert.ok(lstatSync(path).isFile(), 'the link is now a regular file');
    assert.equal(readFileSync(path, 'utf8'), `${KEY}\n`);
    assert.equal(readFileSync(secret, 'utf8'), 'root:$6$secret-hash:19000::::::\n');
    assert.deepEqual([statSync(secret).mode & 0o777, statSync(secret).uid], [0o600, 0]);
  });

  it('a ~/.ssh that is a link to another directory is refused; that directory keeps its owner and mode', async () => {
    const root = tempRoot();
    const target = join(root, 'etc-stand-in');
    mkdirSync(target, { mode: 0o755 });
    const owner = ownerIn(root);
    symlinkSync(target, join(owner.home, '.ssh'));
    await rejectsWith(
      deployPublicKey(configOn(root), owner, { path: '$HOME/alice/.ssh/authorized_keys', value: KEY }),
      'provisioning',
      /\.ssh is a symbolic link; the agent does not follow or replace it$/,
    );
    assert.deepEqual([statSync(target).mode & 0o777, statSync(target).uid], [0o755, 0]);
    assert.ok(!existsSync(join(target, 'authorized_keys')));
  });
});
