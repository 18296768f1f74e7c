// ovf-env.xml, the provisioning document on the DVD (docs/protocol.md §4.2): namespace-aware parsing
// into a typed object with the Python agent's required elements and rules, and the redacted copy that
// is saved in the lib dir (§10 item 29: rewritten through the DOM, so a prefixed UserPassword goes too).
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { registerSecret } from '../log/redact.ts';
import { escapeXml, escapeXmlAttribute, parseXml, textOf, type XmlElement } from '../xml/index.ts';

export const OVF_NS = 'http://schemas.dmtf.org/ovf/environment/1';
export const WA_NS = 'http://schemas.microsoft.com/windowsazure';
const SUPPORTED_VERSION = 1.0;
/** What the saved copy holds instead of the password (the Python agent's choice, §4.3 step 4). */
export const REDACTED_PASSWORD = '*';

export interface OvfPublicKey {
  /** Uppercase SHA-1 thumbprint of the certificate holding the key; null when the value is inline. */
  fingerprint: string | null;
  /** Where the key goes; `$HOME` means OS.HomeDir (§4.7). */
  path: string;
  /** The OpenSSH public key line, when given inline. */
  value: string | null;
}

export interface OvfKeyPair {
  fingerprint: string;
  path: string;
}

export interface OvfEnv {
  version: string;
  hostname: string;
  username: string;
  /** Plain text; null when the VM is provisioned without one. */
  password: string | null;
  /** True only when the element's text is "true" in any case; missing → false (§4.2). */
  disableSshPasswordAuthentication: boolean;
  publicKeys: OvfPublicKey[];
  keyPairs: OvfKeyPair[];
  /** Base64 text as sent; null when absent. */
  customData: string | null;
  /** False only when ProvisionGuestAgent is "false" in any case (§10 item 28). */
  provisionGuestAgent: boolean;
  preprovisionedVm: boolean;
}

function* descendants(el: XmlElement): Generator<XmlElement> {
  for (const c of el.children) {
    if (c.kind !== 'element') continue;
    yield c;
    yield* descendants(c);
  }
}

/** First element below `el` with this namespace and local name (getElementsByTagNameNS, §2.5). */
function findNs(el: XmlElement, ns: string, local: string): XmlElement | null {
  for (const d of descendants(el)) if (d.localName === local && d.namespaceUri === ns) return d;
  return null;
}

function findAllNs(el: XmlElement, ns: string, local: string): XmlElement[] {
  return [...descendants(el)].filter((d) => d.localName === local && d.namespaceUri === ns);
}

function missing(element: string, where: string): AgentError {
  return new AgentError('provisioning', `ovf-env.xml has no ${element} element${where ? ` in ${where}` : ''}`, { element });
}

function required(el: XmlElement, local: string, where: string, ns = WA_NS): XmlElement {
  const found = findNs(el, ns, local);
  if (!found) throw missing(local, where);
  return found;
}

/** The text of a required element; empty counts as missing (the Python agent reads it as None). */
function requiredText(el: XmlElement, local: string, where: string): string {
  const t = textOf(required(el, local, where))?.trim();
  if (!t) throw new AgentError('provisioning', `ovf-env.xml has an empty ${local} element in ${where}`, { element: local });
  return t;
}

function optionalText(el: XmlElement, local: string): string | null {
  const found = findNs(el, WA_NS, local);
  return found ? textOf(found) : null;
}

function trimmedOrNull(s: string | null): string | null {
  const t = s?.trim();
  return t ? t : null;
}

export function parseOvfEnv(xml: string): OvfEnv {
  const root = parseXml(xml, 'ovf-env.xml');
  if (root.localName !== 'Environment' || root.namespaceUri !== OVF_NS) {
    throw new AgentError('provisioning', `ovf-env.xml has the root element ${root.name} instead of an OVF Environment`, {
      element: 'Environment',
    });
  }
  const section = required(root, 'ProvisioningSection', 'Environment');
  const version = requiredText(root, 'Version', 'Environment');
  if (Number.parseFloat(version) > SUPPORTED_VERSION)
    log.warn(`ovf-env.xml has version ${version}, newer than the supported ${SUPPORTED_VERSION.toFixed(1)}`);
  const set = required(section, 'LinuxProvisioningConfigurationSet', 'ProvisioningSection');
  const where = 'LinuxProvisioningConfigurationSet';

  const password = optionalText(set, 'UserPassword');
  registerSecret(password);

  const publicKeys = findAllNs(set, WA_NS, 'PublicKey').map((k, i): OvfPublicKey => {
    const path = trimmedOrNull(optionalText(k, 'Path'));
    const fingerprint = trimmedOrNull(optionalText(k, 'Fingerprint'));
    const value = trimmedOrNull(optionalText(k, 'Value'));
    if (!path) throw new AgentError('provisioning', `ovf-env.xml has a PublicKey (number ${i + 1}) without a Path`, { element: 'Path' });
    if (!fingerprint && !value)
      throw new AgentError('provisioning', `ovf-env.xml has a PublicKey for ${path} with neither a Fingerprint nor a Value`, {
        element: 'PublicKey',
      });
    return { fingerprint: fingerprint ? fingerprint.toUpperCase() : null, path, value };
  });
  const keyPairs = findAllNs(set, WA_NS, 'KeyPair').map((k, i): OvfKeyPair => {
    const path = trimmedOrNull(optionalText(k, 'Path'));
    const fingerprint = trimmedOrNull(optionalText(k, 'Fingerprint'));
    if (!path || !fingerprint) {
      throw new AgentError('provisioning', `ovf-env.xml has a KeyPair (number ${i + 1}) without a ${path ? 'Fingerprint' : 'Path'}`, {
        element: path ? 'Fingerprint' : 'Path',
      });
    }
    return { fingerprint: fingerprint.toUpperCase(), path };
  });

  const platform = required(required(root, 'PlatformSettingsSection', 'Environment'), 'PlatformSettings', 'PlatformSettingsSection');
  // §10 item 28: mandatory and non-empty; only "false" disables the guest agent ("bad data" does not).
  const guestAgent = optionalText(platform, 'ProvisionGuestAgent');
  if (guestAgent === null) {
    const present = findNs(platform, WA_NS, 'ProvisionGuestAgent') !== null;
    throw present
      ? new AgentError('provisioning', 'ovf-env.xml has an empty ProvisionGuestAgent element in PlatformSettings', {
          element: 'ProvisionGuestAgent',
        })
      : missing('ProvisionGuestAgent', 'PlatformSettings');
  }

  return {
    version,
    hostname: requiredText(set, 'HostName', where),
    username: requiredText(set, 'UserName', where),
    password,
    disableSshPasswordAuthentication: optionalText(set, 'DisableSshPasswordAuthentication')?.trim().toLowerCase() === 'true',
    publicKeys,
    keyPairs,
    customData: trimmedOrNull(optionalText(set, 'CustomData')),
    provisionGuestAgent: guestAgent.trim().toLowerCase() !== 'false',
    preprovisionedVm: optionalText(platform, 'PreprovisionedVm')?.trim().toLowerCase() === 'true',
  };
}

function serialize(el: XmlElement, redactPassword: boolean): string {
  let open = el.name;
  for (const a of el.attributes) open += ` ${a.name}="${escapeXmlAttribute(a.value)}"`;
  const isPassword = redactPassword && el.localName === 'UserPassword';
  if (isPassword && el.children.length > 0) return `<${open}>${REDACTED_PASSWORD}</${el.name}>`;
  if (el.children.length === 0) return `<${open}/>`;
  let body = '';
  for (const c of el.children) body += c.kind === 'text' ? escapeXml(c.text) : serialize(c, redactPassword);
  return `<${open}>${body}</${el.name}>`;
}

/**
 * The document with every UserPassword element's content (in any namespace, prefixed or not) replaced
 * by "*", written back from the DOM. Comments and processing instructions are not kept.
 */
export function redactOvfEnv(xml: string): string {
  const root = parseXml(xml, 'ovf-env.xml');
  return `<?xml version="1.0" encoding="utf-8"?>\n${serialize(root, true)}\n`;
}
