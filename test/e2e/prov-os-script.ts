// Runs INSIDE the namespace sandbox (started by prov-os.test.ts, never on the host): applies the provisioning OS
// actions to the sandbox's real /etc, /home and /var with the real tools, and prints what it observed as JSON.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Config } from '../../src/config/index.ts';
import { describeError } from '../../src/util/errors.ts';
import { detectProfile } from '../../src/os/distro-profile.ts';
import { run } from '../../src/os/exec.ts';
import { handleCustomData } from '../../src/provisioning/custom-data.ts';
import { hostKeyFingerprint, regenerateHostKeys } from '../../src/provisioning/host-keys.ts';
import { publishHostname, setHostname } from '../../src/provisioning/hostname.ts';
import { decodeRecords, writeProvisioningReport } from '../../src/provisioning/kvp.ts';
import { provisionedState, writeProvisionedMarker } from '../../src/provisioning/provisioned-marker.ts';
import { deleteRootPassword } from '../../src/provisioning/root-password.ts';
import { configureSshd } from '../../src/provisioning/sshd-apply.ts';
import { reloadSshd } from '../../src/provisioning/sshd-reload.ts';
import { deployKeyPair, deployPublicKey } from '../../src/provisioning/ssh-keys.ts';
import { grantSudo } from '../../src/os/sudoers.ts';
import { ensureUser, lookupUser, setUserPassword } from '../../src/os/user.ts';

const work = process.argv[2]!; // a scratch directory of the test
const fixtures = process.argv[3]!;
const PASSWORD = 'Pr0v-e2e pass';
const VM = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const config = Config.from({ 'Provisioning.SshHostKeyPairType': 'ed25519', 'Provisioning.ExecuteCustomData': true });
const out: Record<string, unknown> = {};
// the sandbox's os-release (the host's distro), read once as the agent's entry point does
const profile = detectProfile();

async function attempt(name: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    out[name] = (await fn()) ?? true;
  } catch (e) {
    out[name] = { error: describeError(e) };
  }
}

const sh = async (cmd: string) => (await run(['sh', '-c', cmd], { allowFailure: true, timeoutMs: 20_000 })).stdout.trim();

// the user
const first = await ensureUser('alice');
const again = await ensureUser('alice');
out.user = {
  created: first.created,
  again: again.created,
  uid: first.user.uid,
  home: first.user.home,
  homeExists: statSync(first.user.home).isDirectory(),
};
await setUserPassword(config, first.user, PASSWORD);
out.shadow = readFileSync('/etc/shadow', 'utf8')
  .split('\n')
  .find((l) => l.startsWith('alice:'))!
  .split(':')[1];
await attempt('systemUser', async () => setUserPassword(config, (await lookupUser('daemon'))!, PASSWORD));
await attempt('badUser', () => ensureUser('-rf'));

// sudo
await grantSudo(config, 'alice', true);
out.sudoers = readFileSync('/etc/sudoers.d/waagent', 'utf8');
out.visudo = (await run(['visudo', '-c'], { allowFailure: true })).code;
out.sudoList = await sh('sudo -l -U alice');

// sshd: the sandbox's own /run gets the privilege separation directory sshd -t wants
mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
out.sshd = await configureSshd(config, true);
out.regenerated = await regenerateHostKeys(config);
out.fingerprint = hostKeyFingerprint(config);
out.fingerprintCheck = await sh('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');

// keys: inline (with CRLF), from a certificate thumbprint, and a key pair
await sh(`ssh-keygen -q -t ed25519 -N '' -C inline -f ${work}/inline`);
const inline = readFileSync(`${work}/inline.pub`, 'utf8').trim();
await sh(
  `openssl req -x509 -newkey rsa:2048 -nodes -keyout ${work}/certkey.pem -out ${work}/cert.pem -days 2 -subj /CN=prov-e2e 2>/dev/null`,
);
const certPem = readFileSync(`${work}/cert.pem`, 'utf8');
const thumb = new X509Certificate(certPem).fingerprint.replace(/:/g, '');
mkdirSync('/var/lib/waagent', { recursive: true });
writeFileSync(`/var/lib/waagent/${thumb}.crt`, certPem);
const ignition = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIgnitionKeyKeptByTheAgentXXXXXXXXXXXXXXXXXX ignition\n';
mkdirSync('/home/alice/.ssh', { recursive: true });
writeFileSync('/home/alice/.ssh/authorized_keys', ignition);
const owner = { name: 'alice', uid: first.user.uid, gid: first.user.gid, home: '/home/alice' };
await deployPublicKey(config, owner, { path: '$HOME/alice/.ssh/authorized_keys', value: inline.replace(' inline', '\r\n') });
await deployPublicKey(config, owner, { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: thumb.toLowerCase() });
await deployPublicKey(config, owner, { path: '$HOME/alice/.ssh/authorized_keys', value: inline }); // again: no duplicate
await attempt('noCert', () => deployPublicKey(config, owner, { path: '$HOME/alice/.ssh/authorized_keys', fingerprint: '0'.repeat(40) }));
const pairThumb = 'A'.repeat(40);
copyFileSync(join(fixtures, 'rsa-key.pem'), `/var/lib/waagent/${pairThumb}.prv`);
await deployKeyPair(config, owner, { path: '$HOME/alice/.ssh/id_rsa', fingerprint: pairThumb });
out.authorizedKeys = readFileSync('/home/alice/.ssh/authorized_keys', 'utf8');
out.modes = Object.fromEntries(
  ['/home/alice/.ssh', '/home/alice/.ssh/authorized_keys', '/home/alice/.ssh/id_rsa', '/home/alice/.ssh/id_rsa.pub'].map((p) => {
    const st = statSync(p);
    return [p, { mode: (st.mode & 0o777).toString(8), uid: st.uid }];
  }),
);
out.pairPub = [await sh('ssh-keygen -y -f /home/alice/.ssh/id_rsa 2>&1'), readFileSync('/home/alice/.ssh/id_rsa.pub', 'utf8')];
out.pairPubMatches = (out.pairPub as string[])
  .map((s) => s.trim().split(' ').slice(0, 2).join(' '))
  .every((s, _, all) => s.startsWith('ssh-rsa ') && s === all[0]);

// a running sshd picks the configuration up on reload; then log in with both keys
// sshd writes its pid file once its SIGHUP handler is set (OpenSSH's main()); a SIGHUP before that, which the
// background sshd could get on a loaded machine right after the parent exits, would kill it instead of reloading it.
await run(['/usr/sbin/sshd', '-p', '2222', '-o', 'ListenAddress=127.0.0.1', '-o', 'PidFile=/run/sshd-2222.pid'], { timeoutMs: 10_000 });
await sh('for i in $(seq 100); do [ -s /run/sshd-2222.pid ] && break; sleep 0.1; done');
out.reload = await reloadSshd({ systemdMarker: '/nonexistent', profile });
// sshd re-executes itself on SIGHUP: its port is closed for a moment, longer on a loaded machine. A login is tried
// until sshd listens again (up to 10 s); a refused key still fails, since that sshd answers.
const ssh = (key: string) =>
  `for i in $(seq 50); do out=$(ssh -i ${key} -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR alice@127.0.0.1 id -un 2>&1) && break; case "$out" in *"Connection refused"*|*"Connection reset"*) sleep 0.2;; *) break;; esac; done; echo "$out"`;
out.loginInline = await sh(ssh(`${work}/inline`));
out.loginCert = await sh(`chmod 600 ${work}/certkey.pem; ${ssh(`${work}/certkey.pem`)}`);
out.sshdT = await sh('sshd -T | grep -E "^(passwordauthentication|kbdinteractiveauthentication|clientaliveinterval) " | sort');

// hostname, custom data, root password, marker, KVP
await setHostname('prov-e2e-host', { profile });
out.hostname = [await sh('hostname'), readFileSync('/etc/hostname', 'utf8')];
out.publish = await publishHostname(config, 'prov-e2e-host', { profile });
out.published = readFileSync('/var/lib/waagent/published_hostname', 'utf8');
out.customData = await handleCustomData(config, Buffer.from('#!/bin/sh\necho custom > /var/lib/waagent/custom-ran\n').toString('base64'));
out.customRan = readFileSync('/var/lib/waagent/custom-ran', 'utf8');
deleteRootPassword(config);
out.shadowFirst = readFileSync('/etc/shadow', 'utf8').split('\n')[0];
writeProvisionedMarker(config, VM);
out.marker = provisionedState(config, '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8');
await writeProvisioningReport({ vmId: VM, reason: 'example failure' });
out.kvp = decodeRecords(readFileSync('/var/lib/hyperv/.kvp_pool_1'));
process.stdout.write(JSON.stringify(out));
