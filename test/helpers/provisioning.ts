// What the provisioning end-to-end tests and the demo share: an ovf-env.xml built from the recorded fixture's
// layout, a UDF media image of it, and a VM id for the sandbox (these machines have no DMI table, so the
// sandbox's dmidecode is replaced, by a bind mount inside its own mount namespace, with one that prints it).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../sandbox/sandbox.ts';

export interface OvfOptions {
  hostname?: string;
  user?: string;
  password?: string | null;
  disablePasswordAuth?: boolean;
  publicKeys?: Array<{ path: string; fingerprint?: string; value?: string }>;
  keyPairs?: Array<{ path: string; fingerprint: string }>;
  customData?: string | null;
  /** null leaves the element out */
  provisionGuestAgent?: string | null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The layout of fixtures/walinuxagent/tests/data/ovf-env.xml, with our values. */
export function ovfEnvXml(o: OvfOptions = {}): string {
  const user = o.user ?? 'alice';
  const keys = (o.publicKeys ?? [])
    .map(
      (k) =>
        `<PublicKey>${k.fingerprint ? `<Fingerprint>${k.fingerprint}</Fingerprint>` : ''}<Path>${esc(k.path)}</Path>${k.value ? `<Value>${esc(k.value)}</Value>` : ''}</PublicKey>`,
    )
    .join('');
  const pairs = (o.keyPairs ?? [])
    .map((k) => `<KeyPair><Fingerprint>${k.fingerprint}</Fingerprint><Path>${esc(k.path)}</Path></KeyPair>`)
    .join('');
  const guest = o.provisionGuestAgent === null ? '' : `<wa:ProvisionGuestAgent>${o.provisionGuestAgent ?? 'true'}</wa:ProvisionGuestAgent>`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <wa:ProvisioningSection>
    <wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>${esc(o.hostname ?? 'prov-e2e-vm')}</HostName>
      <UserName>${esc(user)}</UserName>
      ${o.password === null ? '' : `<UserPassword>${esc(o.password ?? 'Pr0v-e2e pass')}</UserPassword>`}
      <DisableSshPasswordAuthentication>${o.disablePasswordAuth ?? true}</DisableSshPasswordAuthentication>
      <SSH><PublicKeys>${keys}</PublicKeys><KeyPairs>${pairs}</KeyPairs></SSH>
      ${o.customData ? `<CustomData>${Buffer.from(o.customData).toString('base64')}</CustomData>` : ''}
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
  <wa:PlatformSettingsSection>
    <wa:Version>1.0</wa:Version>
    <wa:PlatformSettings>
      <wa:KmsServerHostname>kms.core.windows.net</wa:KmsServerHostname>
      ${guest}
      <wa:GuestAgentPackageName xsi:nil="true"/>
      <wa:PreprovisionedVm>false</wa:PreprovisionedVm>
    </wa:PlatformSettings>
  </wa:PlatformSettingsSection>
</Environment>
`;
}

let images = 0;

/** A UDF image (genisoimage -udf) holding ovf-env.xml, in the sandbox's directory (visible inside at the same path). */
export function udfMedia(sb: Sandbox, ovfEnv: string | Buffer, flags: string[] = ['-udf']): string {
  const src = join(sb.dir, `media-src-${++images}`);
  mkdirSync(src);
  writeFileSync(join(src, 'ovf-env.xml'), ovfEnv);
  const out = join(sb.dir, `media-${images}.iso`);
  const r = spawnSync('genisoimage', ['-quiet', ...flags, '-o', out, src], { encoding: 'utf8' });
  rmSync(src, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`genisoimage failed: ${r.stderr || r.error}`);
  return out;
}

/** Makes `dmidecode --string system-uuid` inside the sandbox print the id in <sb.dir>/vm-id. */
export async function fakeVmId(sb: Sandbox, id: string): Promise<void> {
  writeFileSync(join(sb.dir, 'vm-id'), id + '\n');
  const script = join(sb.dir, 'dmidecode');
  writeFileSync(script, `#!/bin/sh\ncat ${join(sb.dir, 'vm-id')}\n`);
  chmodSync(script, 0o755);
  // /usr/local/sbin comes first in PATH: a tmpfs over it, in the sandbox's mount namespace only, holds the stand-in
  const mounted = await sb.exec([
    'sh',
    '-c',
    `grep -q ' /usr/local/sbin ' /proc/self/mountinfo || mount -t tmpfs -o mode=0755 sandbox-sbin /usr/local/sbin; cp ${script} /usr/local/sbin/dmidecode`,
  ]);
  if (mounted.code !== 0) throw new Error(`cannot put the fake dmidecode in place: ${mounted.stderr}`);
}
