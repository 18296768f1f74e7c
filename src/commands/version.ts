import { AGENT_NAME, COMPAT_AGENT_VERSION, OUR_VERSION } from '../util/version.ts';
import type { Distro } from '../os/distro.ts';

export function versionText(d: Distro): string {
  return [
    `${AGENT_NAME}-${COMPAT_AGENT_VERSION} running on ${d.id} ${d.version}`.trimEnd(),
    `waagent-ts: ${OUR_VERSION} (node ${process.versions.node}, ${process.arch})`,
    `Goal state agent: ${COMPAT_AGENT_VERSION}`,
  ].join('\n');
}
