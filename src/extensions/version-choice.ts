// Which manifest package a handler uses (docs/protocol.md §5.2 `decide_version`, §10 item 22).
//
// API:
//   chooseVersion(manifest, { handlerName, requestedVersion, installedVersion, state }): VersionChoice
//   versionMatches(requested: string, candidate: string): boolean
//   compareVersionTuples(a: string, b: string): number
import { AgentError } from '../util/errors.ts';
import type { ExtensionManifest, ManifestPackage } from './manifest.ts';

export interface VersionRequest {
  /** Publisher.Type, for messages. */
  handlerName: string;
  /** The version the goal state asks for (Plugin/@version or vmSettings "version"). */
  requestedVersion: string;
  /** The highest version installed on disk, or null when none is. */
  installedVersion: string | null;
  /** enabled | disabled | uninstall */
  state: string;
}

export interface VersionChoice {
  /** The package to use; null for disabled/uninstall when the installed version is no longer in the manifest. */
  package: ManifestPackage | null;
  /** The handler version from now on: the selected package's (enabled) or the installed one (disabled/uninstall). */
  version: string;
}

/** "1.02.3" → [1, 2, 3]; null when not a dotted number. */
function components(v: string): number[] | null {
  const t = v.trim();
  return /^\d+(\.\d+)*$/.test(t) ? t.split('.').map(Number) : null;
}

function parse(v: string, what: string): number[] {
  const c = components(v);
  if (!c) throw new AgentError('extension', `the ${what} "${v}" is not a dotted version number`, { version: v });
  return c;
}

/**
 * Orders versions as the agent's FlexibleVersion does: component by component, and a version that is a prefix of
 * another sorts first (1.0 < 1.0.0). Negative when a < b.
 */
export function compareVersionTuples(a: string, b: string): number {
  const pa = parse(a, 'version');
  const pb = parse(b, 'version');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return pa.length - pb.length;
}

/**
 * True when the requested version's components are a prefix of the candidate's (§5.2): `1.0` matches `1.0` and
 * `1.0.5`; `1.0.0` does not match `1.0`; `1` matches every 1.x.
 */
export function versionMatches(requested: string, candidate: string): boolean {
  const r = components(requested);
  const c = components(candidate);
  if (!r || !c || r.length > c.length) return false;
  return r.every((n, i) => n === c[i]);
}

/**
 * decide_version: packages sorted by version (stable, so a later duplicate wins); the *selected* package is the
 * highest whose version matches the requested one, the *installed* package the one whose version equals the
 * installed version exactly. disabled/uninstall keep the installed version (even when it left the manifest);
 * enabled takes the selected one, and fails (operation Download) when there is none. Never returns a version
 * that is not in the manifest for enabled.
 */
export function chooseVersion(manifest: ExtensionManifest, req: VersionRequest): VersionChoice {
  parse(req.requestedVersion, `requested version of ${req.handlerName}`);
  const installed = req.installedVersion ?? req.requestedVersion;
  const sorted = [...manifest.packages].sort((a, b) => compareVersionTuples(a.version, b.version));
  let selected: ManifestPackage | null = null;
  let installedPkg: ManifestPackage | null = null;
  for (const p of sorted) {
    if (compareVersionTuples(p.version, installed) === 0) installedPkg = p;
    if (versionMatches(req.requestedVersion, p.version)) selected = p;
  }
  const state = req.state.toLowerCase();
  if (state === 'uninstall' || state === 'disabled') return { package: installedPkg, version: installed };
  if (!selected) {
    throw new AgentError('extension', `Unable to find version ${req.requestedVersion} of ${req.handlerName} in its manifest`, {
      handler: req.handlerName,
      version: req.requestedVersion,
      operation: 'Download',
    });
  }
  return { package: selected, version: selected.version };
}
