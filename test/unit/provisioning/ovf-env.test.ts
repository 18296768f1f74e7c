// ovf-env.xml parsing (docs/protocol.md §4.2, §10 item 28) and the redacted copy (§10 item 29).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isAgentError } from '../../../src/util/errors.ts';
import { redact } from '../../../src/log/redact.ts';
import { parseOvfEnv, redactOvfEnv, type OvfEnv } from '../../../src/provisioning/ovf-env.ts';
import { FIXTURES } from '../../fixtures/media/make-images.ts';

const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const BASE = fixture('ovf-env.xml');

const COMMON: Omit<OvfEnv, 'provisionGuestAgent'> = {
  version: '1.0',
  hostname: 'HostName',
  username: 'UserName',
  password: 'UserPassword',
  disableSshPasswordAuthentication: false,
  publicKeys: [
    {
      fingerprint: 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62',
      path: '$HOME/UserName/.ssh/authorized_keys',
      value: 'ssh-rsa AAAANOTAREALKEY== foo@bar.local',
    },
  ],
  keyPairs: [{ fingerprint: 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62', path: '$HOME/UserName/.ssh/id_rsa' }],
  customData: 'CustomData',
  preprovisionedVm: false,
};

function provisioningError(xml: string): string {
  try {
    parseOvfEnv(xml);
  } catch (e) {
    assert.ok(isAgentError(e, 'provisioning'), `expected a provisioning AgentError, got ${String(e)}`);
    return e.message;
  }
  return assert.fail('expected parseOvfEnv to fail');
}

/** BASE with one substring replaced (which must be there). */
function edit(from: string, to: string, xml = BASE): string {
  assert.ok(xml.includes(from), `the fixture contains ${from}`);
  return xml.replace(from, to);
}

describe('parseOvfEnv on the recorded fixtures', () => {
  it('ovf-env.xml: ProvisionGuestAgent false disables the guest agent', () => {
    assert.deepEqual(parseOvfEnv(BASE), { ...COMMON, provisionGuestAgent: false });
  });
  it('ovf-env-2.xml: ProvisionGuestAgent true', () => {
    assert.deepEqual(parseOvfEnv(fixture('ovf-env-2.xml')), { ...COMMON, provisionGuestAgent: true });
  });
  it('ovf-env-3.xml: an empty ProvisionGuestAgent fails', () => {
    assert.equal(provisioningError(fixture('ovf-env-3.xml')), 'ovf-env.xml has an empty ProvisionGuestAgent element in PlatformSettings');
  });
  it('ovf-env-4.xml: "bad data" does not disable the guest agent', () => {
    assert.deepEqual(parseOvfEnv(fixture('ovf-env-4.xml')), { ...COMMON, provisionGuestAgent: true });
  });
});

describe('parseOvfEnv rules', () => {
  it('ProvisionGuestAgent: missing fails; FALSE in any case disables; other text enables', () => {
    assert.equal(
      provisioningError(edit('<wa:ProvisionGuestAgent>false</wa:ProvisionGuestAgent>', '')),
      'ovf-env.xml has no ProvisionGuestAgent element in PlatformSettings',
    );
    assert.equal(parseOvfEnv(edit('>false</wa:ProvisionGuestAgent>', '>FALSE</wa:ProvisionGuestAgent>')).provisionGuestAgent, false);
    assert.equal(parseOvfEnv(edit('>false</wa:ProvisionGuestAgent>', '>no</wa:ProvisionGuestAgent>')).provisionGuestAgent, true);
    assert.equal(
      provisioningError(edit('<wa:ProvisionGuestAgent>false</wa:ProvisionGuestAgent>', '<wa:ProvisionGuestAgent/>')),
      'ovf-env.xml has an empty ProvisionGuestAgent element in PlatformSettings',
    );
  });

  it('a ProvisionGuestAgent outside the Windows Azure namespace does not count', () => {
    const xml = edit('<wa:ProvisionGuestAgent>false</wa:ProvisionGuestAgent>', '<oe:ProvisionGuestAgent>false</oe:ProvisionGuestAgent>');
    assert.equal(provisioningError(xml), 'ovf-env.xml has no ProvisionGuestAgent element in PlatformSettings');
  });

  it('namespace prefixes are irrelevant, namespaces are not', () => {
    const prefixed = BASE.replaceAll('wa:', 'azure:').replace('xmlns:wa=', 'xmlns:azure=');
    assert.deepEqual(parseOvfEnv(prefixed), parseOvfEnv(BASE));
    const wrongNs = edit(
      '<LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure"',
      '<LinuxProvisioningConfigurationSet xmlns="urn:other"',
    );
    assert.equal(provisioningError(wrongNs), 'ovf-env.xml has no LinuxProvisioningConfigurationSet element in ProvisioningSection');
  });

  it('required elements, each named when missing or empty', () => {
    assert.equal(
      provisioningError(edit('<HostName>HostName</HostName>', '')),
      'ovf-env.xml has no HostName element in LinuxProvisioningConfigurationSet',
    );
    assert.equal(
      provisioningError(edit('<HostName>HostName</HostName>', '<HostName> </HostName>')),
      'ovf-env.xml has an empty HostName element in LinuxProvisioningConfigurationSet',
    );
    assert.equal(
      provisioningError(edit('<UserName>UserName</UserName>', '<UserName/>')),
      'ovf-env.xml has an empty UserName element in LinuxProvisioningConfigurationSet',
    );
    assert.equal(
      provisioningError(BASE.replaceAll(/<wa:Version>1.0<\/wa:Version>/g, '')),
      'ovf-env.xml has no Version element in Environment',
    );
    assert.equal(
      provisioningError(edit('<wa:PlatformSettings>', '<wa:Other>').replace('</wa:PlatformSettings>', '</wa:Other>')),
      'ovf-env.xml has no PlatformSettings element in PlatformSettingsSection',
    );
    const noSection = BASE.replace(/<wa:PlatformSettingsSection>[\s\S]*<\/wa:PlatformSettingsSection>/, '');
    assert.equal(provisioningError(noSection), 'ovf-env.xml has no PlatformSettingsSection element in Environment');
    assert.equal(
      provisioningError('<Environment xmlns="urn:x"/>'),
      'ovf-env.xml has the root element Environment instead of an OVF Environment',
    );
  });

  it('optional elements: no password, no keys, no custom data, password auth disabled', () => {
    let xml = edit('<UserPassword>UserPassword</UserPassword>', '');
    xml = xml.replace(/<SSH>[\s\S]*<\/SSH>/, '').replace('<CustomData>CustomData</CustomData>', '');
    xml = edit('>false</DisableSshPasswordAuthentication>', '>True</DisableSshPasswordAuthentication>', xml);
    const env = parseOvfEnv(xml);
    assert.equal(env.password, null);
    assert.deepEqual(env.publicKeys, []);
    assert.deepEqual(env.keyPairs, []);
    assert.equal(env.customData, null);
    assert.equal(env.disableSshPasswordAuthentication, true);
    assert.equal(
      parseOvfEnv(edit('<DisableSshPasswordAuthentication>false</DisableSshPasswordAuthentication>', '')).disableSshPasswordAuthentication,
      false,
    );
  });

  it('keys: a key by thumbprint only, a key without a path, a key with nothing', () => {
    const byThumbprint = parseOvfEnv(edit('<Value>ssh-rsa AAAANOTAREALKEY== foo@bar.local</Value>', '')).publicKeys;
    assert.deepEqual(byThumbprint, [
      { fingerprint: 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62', path: '$HOME/UserName/.ssh/authorized_keys', value: null },
    ]);
    assert.equal(
      provisioningError(edit('<Path>$HOME/UserName/.ssh/authorized_keys</Path>', '')),
      'ovf-env.xml has a PublicKey (number 1) without a Path',
    );
    const bare = edit('<Value>ssh-rsa AAAANOTAREALKEY== foo@bar.local</Value>', '').replace(
      /<Fingerprint>EB0C[0-9A-F]*<\/Fingerprint>/,
      '',
    );
    assert.equal(
      provisioningError(bare),
      'ovf-env.xml has a PublicKey for $HOME/UserName/.ssh/authorized_keys with neither a Fingerprint nor a Value',
    );
    assert.equal(
      provisioningError(edit('<Path>$HOME/UserName/.ssh/id_rsa</Path>', '')),
      'ovf-env.xml has a KeyPair (number 1) without a Path',
    );
  });

  it('the password is kept verbatim and registered as a secret for the log', () => {
    const env = parseOvfEnv(edit('<UserPassword>UserPassword</UserPassword>', '<UserPassword> p&amp;ss w0rd </UserPassword>'));
    assert.equal(env.password, ' p&ss w0rd ');
    assert.equal(redact('login with p&ss w0rd failed'), 'login with***REDACTED***failed'); // the spaces are part of it
  });

  it('malformed XML is an xml error naming the document', () => {
    assert.throws(
      () => parseOvfEnv('<Environment><x></Environment>'),
      (e: unknown) => isAgentError(e, 'xml') && /^the ovf-env\.xml is not well-formed XML/.test(e.message),
    );
  });
});

describe('redactOvfEnv', () => {
  it('replaces the password and keeps everything else', () => {
    const out = redactOvfEnv(BASE);
    assert.ok(!out.includes('>UserPassword<'));
    assert.ok(out.includes('<UserPassword>*</UserPassword>'));
    const { password, ...rest } = parseOvfEnv(out);
    const { password: original, ...expected } = parseOvfEnv(BASE);
    assert.equal(password, '*');
    assert.equal(original, 'UserPassword');
    assert.deepEqual(rest, expected);
    assert.ok(out.includes('<wa:GuestAgentPackageName xsi:nil="true"/>'));
  });

  it('redacts a prefixed UserPassword, one split over lines, and escaped markup', () => {
    const prefixed = edit(
      '<UserPassword>UserPassword</UserPassword>',
      '<ns1:UserPassword xmlns:ns1="http://schemas.microsoft.com/windowsazure">Secret\n&lt;1&gt;<![CDATA[x]]></ns1:UserPassword>',
    );
    assert.equal(parseOvfEnv(prefixed).password, 'Secret\n<1>x');
    const out = redactOvfEnv(prefixed);
    assert.ok(!out.includes('Secret'), out);
    assert.ok(out.includes('<ns1:UserPassword xmlns:ns1="http://schemas.microsoft.com/windowsazure">*</ns1:UserPassword>'));
    assert.equal(parseOvfEnv(out).password, '*');
  });

  it('keeps text that needs escaping escaped, and an absent password absent', () => {
    const xml = edit('<CustomData>CustomData</CustomData>', '<CustomData>a&lt;b&amp;c</CustomData>').replace(
      '<UserPassword>UserPassword</UserPassword>',
      '',
    );
    const out = redactOvfEnv(xml);
    assert.ok(out.includes('<CustomData>a&lt;b&amp;c</CustomData>'));
    assert.equal(parseOvfEnv(out).password, null);
    assert.ok(!out.includes('UserPassword'));
  });
});
