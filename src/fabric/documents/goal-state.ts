// GET /machine/?comp=goalstate (docs/protocol.md §2.4), read with the loose lookups of §2.5.
import { AgentError, isAgentError } from '../../util/errors.ts';
import { find, urlOf } from '../../xml/index.ts';
import { missing, parseDocument, requiredText } from './common.ts';

export interface GoalState {
  /** Opaque: compare for inequality only (§10 item 1). */
  readonly incarnation: string;
  readonly containerId: string;
  readonly roleInstanceId: string;
  readonly configName: string;
  /** The part of ConfigName before the first '.' (x-ms-vmagentlog-deploymentid, §2.4). */
  readonly deploymentId: string;
  readonly hostingEnvironmentConfigUrl: string;
  readonly sharedConfigUrl: string;
  readonly extensionsConfigUrl: string | null;
  readonly certificatesUrl: string | null;
  readonly remoteAccessInfoUrl: string | null;
}

const WHAT = 'goal state';

export function parseGoalState(xml: string): GoalState {
  const root = parseDocument(xml, WHAT, 'GoalState');
  const incarnation = requiredText(root, 'Incarnation', WHAT);
  const container = find(root, 'Container');
  if (!container) throw missing(WHAT, 'Container');
  const containerId = requiredText(container, 'ContainerId', WHAT);
  const roleInstance = find(root, 'RoleInstance');
  if (!roleInstance) {
    // Happens transiently: the caller re-requests (6 × 0.5 s) before giving up (§2.4, §10 item 3).
    throw new AgentError(
      'protocol',
      'the goal state has no RoleInstance',
      { document: WHAT, incarnation },
      undefined,
      'missing-role-instance',
    );
  }
  const roleInstanceId = requiredText(roleInstance, 'InstanceId', WHAT);
  const configName = requiredText(find(roleInstance, 'Configuration') ?? roleInstance, 'ConfigName', WHAT);
  const requiredUrl = (name: string): string => {
    const u = urlOf(root, name);
    if (u === null) throw missing(WHAT, name);
    return u;
  };
  return {
    incarnation,
    containerId,
    roleInstanceId,
    configName,
    deploymentId: deploymentIdOf(configName),
    hostingEnvironmentConfigUrl: requiredUrl('HostingEnvironmentConfig'),
    sharedConfigUrl: requiredUrl('SharedConfig'),
    extensionsConfigUrl: urlOf(root, 'ExtensionsConfig'),
    certificatesUrl: urlOf(root, 'Certificates'),
    remoteAccessInfoUrl: urlOf(container, 'RemoteAccessInfo'),
  };
}

/** True for the "goal state without a RoleInstance" error, which the caller retries. */
export function isMissingRoleInstance(e: unknown): boolean {
  return isAgentError(e, 'protocol', 'missing-role-instance');
}

/** Deployment id = the part of ConfigName before the first '.' (§2.4). */
export function deploymentIdOf(configName: string): string {
  const dot = configName.indexOf('.');
  return dot < 0 ? configName : configName.slice(0, dot);
}
