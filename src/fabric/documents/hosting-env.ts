// HostingEnvironmentConfig (docs/protocol.md §2.6): VM, role and deployment names.
// Real hosts omit Role and Deployment (see the recorded hibernate goal states), so every name is
// optional: "" when its element or attribute is missing (§2.5).
import { attr, find } from '../../xml/index.ts';
import { parseDocument } from './common.ts';

export interface HostingEnvironment {
  /** Incarnation/@instance */
  readonly vmName: string;
  /** Role/@name */
  readonly roleName: string;
  /** Deployment/@name */
  readonly deploymentName: string;
}

export function parseHostingEnvironment(xml: string): HostingEnvironment {
  const root = parseDocument(xml, 'hosting environment config', 'HostingEnvironmentConfig');
  return {
    vmName: attr(find(root, 'Incarnation'), 'instance'),
    roleName: attr(find(root, 'Role'), 'name'),
    deploymentName: attr(find(root, 'Deployment'), 'name'),
  };
}
