// SharedConfig (docs/protocol.md §2.7). The caller saves the raw text verbatim to
// <lib>/SharedConfig.xml; the agent itself only reads the instances, for the RDMA address of §8.4.
import { AgentError } from '../../util/errors.ts';
import { attr, findAll } from '../../xml/index.ts';
import { parseDocument } from './common.ts';

export interface SharedConfigInstance {
  readonly id: string;
  readonly address: string;
  /** "" when the attribute is missing (§2.5). */
  readonly rdmaMacAddress: string;
  readonly rdmaIPv4Address: string;
}

export interface SharedConfig {
  readonly instances: readonly SharedConfigInstance[];
}

export function parseSharedConfig(xml: string): SharedConfig {
  const root = parseDocument(xml, 'shared config', 'SharedConfig');
  return {
    instances: findAll(root, 'Instance').map((i) => ({
      id: attr(i, 'id'),
      address: attr(i, 'address'),
      rdmaMacAddress: attr(i, 'rdmaMacAddress'),
      rdmaIPv4Address: attr(i, 'rdmaIPv4Address'),
    })),
  };
}

/** The RDMA address and MAC of this instance (§8.4). */
export interface RdmaAddress {
  ipv4: string;
  /** aa:bb:cc:dd:ee:ff, upper case as SharedConfig has it */
  mac: string;
}

/** SharedConfig writes the MAC as 12 hex digits (00155D33FF1D); colons are added, as upstream does. */
export function formatRdmaMac(raw: string): string {
  const hex = raw.trim().replace(/[:-]/g, '');
  if (!/^[0-9A-Fa-f]{12}$/.test(hex)) {
    throw new AgentError('protocol', `the rdmaMacAddress ${JSON.stringify(raw)} in SharedConfig is not a MAC address`, {
      document: 'SharedConfig',
    });
  }
  return hex.match(/../g)!.join(':');
}

/** rdmaIPv4Address and rdmaMacAddress of the first Instance (upstream reads the first one too). */
export function rdmaAddress(sharedConfigXml: string): RdmaAddress {
  const instance = parseSharedConfig(sharedConfigXml).instances[0];
  if (!instance)
    throw new AgentError('protocol', 'SharedConfig has no Instance element, so it names no RDMA address', { document: 'SharedConfig' });
  if (!instance.rdmaIPv4Address || !instance.rdmaMacAddress) {
    throw new AgentError('protocol', `the Instance ${instance.id} in SharedConfig has no rdmaIPv4Address or rdmaMacAddress attribute`, {
      document: 'SharedConfig',
    });
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(instance.rdmaIPv4Address)) {
    throw new AgentError(
      'protocol',
      `the rdmaIPv4Address ${JSON.stringify(instance.rdmaIPv4Address)} in SharedConfig is not an IPv4 address`,
      { document: 'SharedConfig' },
    );
  }
  return { ipv4: instance.rdmaIPv4Address, mac: formatRdmaMac(instance.rdmaMacAddress) };
}
