// -serialconsole and -collect-logs in the namespace sandbox, called in-process by test/e2e/os-commands-script.ts
// (not yet through dist/waagent, which the lead wires). The sandbox is a Debian tree: update-grub is the GRUB tool,
// provided as a recording fake on PATH (the real one would rewrite the host's /boot, which the sandbox shares).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readZipEntries, readZipEntryData } from '../../src/archive/zip-read.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { withSandbox } from '../sandbox/sandbox.ts';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'os-commands-script.ts');
const PATH = '/tmp/fakebin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SAS = 'https://md.blob.core.windows.net/c/status?sv=2020-01-01&sr=b&sig=SECRETSIGNATURE%3D&se=2030-01-01';

describe('OS commands in the sandbox', () => {
  it('-serialconsole adds the serial console to GRUB_CMDLINE_LINUX and runs update-grub, once', async () => {
    await withSandbox(async (sb) => {
      sb.writeFile('/etc/waagent.conf', 'Logs.File=/var/log/waagent.log\n');
      sb.writeFile(
        '/etc/default/grub',
        '# comment GRUB_CMDLINE_LINUX="x"\nGRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="net.ifnames=0"\n',
      );
      sb.writeFile('/tmp/fakebin/update-grub', '#!/bin/sh\necho "update-grub $*" >> /tmp/grub-calls\n', 0o755);
      const r = await sb.exec([process.execPath, SCRIPT, 'serialconsole'], { env: { PATH } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        sb.readFile('/etc/default/grub'),
        '# comment GRUB_CMDLINE_LINUX="x"\nGRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="net.ifnames=0 console=ttyS0 earlyprintk=ttyS0"\n',
      );
      const again = await sb.exec([process.execPath, SCRIPT, 'serialconsole'], { env: { PATH } });
      assert.equal(again.code, 0, again.stderr);
      assert.match(sb.readFile('/etc/default/grub'), /GRUB_CMDLINE_LINUX="net.ifnames=0 console=ttyS0 earlyprintk=ttyS0"\n$/);
      assert.equal(sb.readFile('/tmp/grub-calls'), 'update-grub \nupdate-grub \n');
    });
  });

  it('-serialconsole without /etc/default/grub fails with one clear sentence', async () => {
    await withSandbox(async (sb) => {
      sb.writeFile('/etc/waagent.conf', 'Logs.File=/var/log/waagent.log\n');
      await sb.exec(['rm', '-f', '/etc/default/grub']);
      const r = await sb.exec([process.execPath, SCRIPT, 'serialconsole'], { env: { PATH } });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'waagent: /etc/default/grub does not exist, so the boot loader cannot be configured for the serial console\n');
    });
  });

  it('-collect-logs writes a zip of logs and state with SAS tokens, passwords and private keys redacted', async () => {
    await withSandbox(async (sb) => {
      sb.writeFile('/etc/waagent.conf', 'Lib.Dir=/var/lib/waagent\nLogs.File=/var/log/waagent.log\n');
      sb.writeFile('/var/log/waagent.log', `2026-01-01T00:00:00.000000Z INFO Daemon uploading to ${SAS}\n`);
      sb.writeFile('/var/lib/waagent/ovf-env.xml', '<ns1:UserPassword>Hunter2-Secret</ns1:UserPassword>\n');
      sb.writeFile('/var/lib/waagent/GoalState.1.xml', '<xml>empty placeholder file</xml>');
      sb.writeFile(
        '/var/lib/waagent/Ext-1.0/config/0.settings',
        '{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"MIIBase64Secret","publicSettings":{"a":1}}}]}',
      );
      sb.writeFile('/var/lib/waagent/Ext-1.0/status/0.status', '[{"status":{"status":"success"}}]');
      sb.writeFile('/var/lib/waagent/ABCDEF.prv', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
      sb.writeFile('/var/lib/waagent/notes.json', '{"key":"-----BEGIN RSA PRIVATE KEY-----\\nBBBB\\n-----END RSA PRIVATE KEY-----"}');
      sb.writeFile('/var/log/azure/Ext/handler.log', `downloading ${SAS}\n`);
      // An extension made its log folder a link to /etc (issue 11): nothing is collected through it.
      assert.equal((await sb.exec(['ln', '-s', '/etc', '/var/log/azure/Evil'])).code, 0);
      const r = await sb.exec([process.execPath, SCRIPT, 'collect-logs', '-full']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^wrote \/var\/lib\/waagent\/logcollector\/logs\.zip: \d+ files/);
      const dir = mkdtempSync(join(tmpdir(), 'collect-'));
      const zipFile = join(dir, 'logs.zip');
      writeFileSync(
        zipFile,
        execFileSync('nsenter', ['--target', String(await pidOf(sb)), '--mount', 'cat', '/var/lib/waagent/logcollector/logs.zip']),
      );
      const listing = execFileSync('unzip', ['-l', zipFile], { encoding: 'utf8' });
      for (const name of [
        'etc/os-release',
        'var/log/waagent.log',
        'var/lib/waagent/ovf-env.xml',
        'var/lib/waagent/Ext-1.0/config/0.settings',
        'var/log/azure/Ext/handler.log',
        'results.txt',
        'etc/waagent.conf',
      ]) {
        assert.ok(listing.includes(name), `${name} in\n${listing}`);
      }
      assert.ok(!listing.includes('ABCDEF.prv'), 'no private key file');
      assert.ok(!listing.includes('var/log/azure/Evil/'), `nothing through the planted link:\n${listing}`);
      const buf = execFileSync('cat', [zipFile]);
      const text = Object.fromEntries(readZipEntries(buf).map((e) => [e.name, readZipEntryData(buf, e).toString('utf8')]));
      const all = Object.values(text).join('\n');
      for (const secret of ['SECRETSIGNATURE', 'Hunter2-Secret', 'MIIBase64Secret', 'AAAA', 'BBBB'])
        assert.ok(!all.includes(secret), `${secret} leaked`);
      assert.match(text['var/log/waagent.log']!, /sig=\*\*\*REDACTED\*\*\*/);
      assert.match(text['results.txt']!, /\/var\/lib\/waagent\/ABCDEF\.prv: may hold secrets/);
      assert.match(text['results.txt']!, /\/var\/log\/azure\/Evil\/passwd: .* leads outside \/var\/log\/azure through a symbolic link/);
    });
  });
});

async function pidOf(sb: { root: string }): Promise<number> {
  return Number(/^\/proc\/(\d+)\/root$/.exec(sb.root)![1]);
}
