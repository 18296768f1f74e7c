// The health report POSTed to /machine?comp=health (docs/protocol.md §3.1, §10 item 6).
import { log } from '../../log/logger.ts';
import { xmlDocument, xmlElement } from '../../xml/index.ts';

/** 10 % below the platform's 4096-byte limit; applied in characters, before escaping (§3.1). */
export const MAX_DESCRIPTION_CHARS = 3686;

export interface HealthReport {
  readonly incarnation: string;
  readonly containerId: string;
  readonly roleInstanceId: string;
  readonly state: 'Ready' | 'NotReady';
  /** e.g. Provisioning, ProvisioningFailed; Details are sent only when given. */
  readonly subStatus?: string;
  readonly description?: string;
}

/** Truncates to `max` code points (never splitting a surrogate pair). */
function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  const points = Array.from(s);
  return points.length <= max ? s : points.slice(0, max).join('');
}

/** The exact body: no whitespace between elements, text escaped. */
export function buildHealthReport(r: HealthReport): string {
  let description = r.description ?? '';
  const trimmed = truncate(description, MAX_DESCRIPTION_CHARS);
  if (trimmed !== description) {
    log.info(`Trimmed health report description by ${Array.from(description).length - MAX_DESCRIPTION_CHARS} characters`);
    description = trimmed;
  }
  const details =
    r.subStatus !== undefined &&
    xmlElement('Details', null, xmlElement('SubStatus', null, r.subStatus), xmlElement('Description', null, description));
  return xmlDocument(
    xmlElement(
      'Health',
      { 'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', 'xmlns:xsd': 'http://www.w3.org/2001/XMLSchema' },
      xmlElement('GoalStateIncarnation', null, r.incarnation),
      xmlElement(
        'Container',
        null,
        xmlElement('ContainerId', null, r.containerId),
        xmlElement(
          'RoleInstanceList',
          null,
          xmlElement(
            'Role',
            null,
            xmlElement('InstanceId', null, r.roleInstanceId),
            xmlElement('Health', null, xmlElement('State', null, r.state), details),
          ),
        ),
      ),
    ),
  );
}
