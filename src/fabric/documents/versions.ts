// GET /?comp=versions (docs/protocol.md §2.2): which WireServer protocol versions the host speaks.
import { childElements, find, findAll, textOf } from '../../xml/index.ts';
import { parseDocument } from './common.ts';

/** The only WireServer protocol version the agent speaks. */
export const WIRE_PROTOCOL_VERSION = '2012-11-30';

export interface Versions {
  readonly preferred: string | null;
  readonly supported: readonly string[];
}

export function parseVersions(xml: string): Versions {
  const root = parseDocument(xml, 'versions document', 'Versions');
  const preferred = textOf(childElements(find(root, 'Preferred'), 'Version')[0] ?? null);
  const supported = findAll(find(root, 'Supported'), 'Version')
    .map(textOf)
    .filter((v): v is string => v !== null);
  return { preferred, supported };
}

/** True when the host prefers or supports 2012-11-30 (otherwise protocol detection fails). */
export function supportsWireProtocol(v: Versions): boolean {
  return v.preferred === WIRE_PROTOCOL_VERSION || v.supported.includes(WIRE_PROTOCOL_VERSION);
}
