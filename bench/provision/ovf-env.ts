// The ovf-env.xml both agents provision from in the benchmark: the layout of the recorded fixture
// tests/data/ovf-env-2.xml (azure-protocol.md §4.2), with work that is real on both sides: a user with a password,
// an inline SSH key, a key by certificate thumbprint, a key pair, custom data. The thumbprint is that of the
// certificate WITH a private key in the emulator's default Certificates document (tests/data/wire/certs.xml),
// which the agents receive encrypted to their own transport certificate.

export const CERT_THUMBPRINT = 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9';

export interface BenchOvfEnv {
  hostName: string;
  userName: string;
  password: string;
  /** an OpenSSH public key line, e.g. "ssh-ed25519 AAAA... comment" */
  publicKey: string;
  /** the custom data as the platform sends it (base64) */
  customData: string;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function benchOvfEnv(o: BenchOvfEnv): string {
  const e = (s: string) => escapeXml(s);
  const home = `$HOME/${e(o.userName)}/.ssh`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" xmlns:wa="http://schemas.microsoft.com/windowsazure" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <wa:ProvisioningSection>
      <wa:Version>1.0</wa:Version>
      <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
        <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
        <HostName>${e(o.hostName)}</HostName>
        <UserName>${e(o.userName)}</UserName>
        <UserPassword>${e(o.password)}</UserPassword>
        <DisableSshPasswordAuthentication>false</DisableSshPasswordAuthentication>
        <SSH>
          <PublicKeys>
            <PublicKey>
              <Fingerprint>${CERT_THUMBPRINT}</Fingerprint>
              <Path>${home}/authorized_keys</Path>
              <Value>${e(o.publicKey)}</Value>
            </PublicKey>
            <PublicKey>
              <Fingerprint>${CERT_THUMBPRINT}</Fingerprint>
              <Path>${home}/authorized_keys</Path>
            </PublicKey>
          </PublicKeys>
          <KeyPairs>
            <KeyPair>
              <Fingerprint>${CERT_THUMBPRINT}</Fingerprint>
              <Path>${home}/id_rsa</Path>
            </KeyPair>
          </KeyPairs>
        </SSH>
        <CustomData>${e(o.customData)}</CustomData>
      </LinuxProvisioningConfigurationSet>
    </wa:ProvisioningSection>
    <wa:PlatformSettingsSection>
		<wa:Version>1.0</wa:Version>
		<wa:PlatformSettings>
			<wa:KmsServerHostname>kms.core.windows.net</wa:KmsServerHostname>
			<wa:ProvisionGuestAgent>true</wa:ProvisionGuestAgent>
			<wa:GuestAgentPackageName xsi:nil="true"/>
			<wa:RetainWindowsPEPassInUnattend>true</wa:RetainWindowsPEPassInUnattend>
			<wa:RetainOfflineServicingPassInUnattend>true</wa:RetainOfflineServicingPassInUnattend>
			<wa:PreprovisionedVm>false</wa:PreprovisionedVm>
		</wa:PlatformSettings>
	</wa:PlatformSettingsSection>
 </Environment>
`;
}
