// SharedConfig (docs/protocol.md §2.7). The caller saves the raw text verbatim to
// <lib>/SharedConfig.xml; the agent itself only reads the instances (for RDMA setup).
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
