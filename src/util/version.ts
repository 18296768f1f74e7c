// The Python agent version we are compatible with (docs/protocol.md header: AGENT_VERSION 2.15.0.1),
// and our own version, injected by build.mjs (falls back to package.json's when running from source).
export const COMPAT_AGENT_VERSION = '2.15.0.1';
export const AGENT_NAME = 'WALinuxAgent';
declare const __WAAGENT_TS_VERSION__: string | undefined;
export const OUR_VERSION: string = typeof __WAAGENT_TS_VERSION__ === 'string' ? __WAAGENT_TS_VERSION__ : '0.0.0-dev';
export const USER_AGENT = `${AGENT_NAME}/${COMPAT_AGENT_VERSION}`;
