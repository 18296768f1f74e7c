// Artifacts the tests register (extension manifests, zip packages), served by the blob service (direct channel)
// and by the HostGAPlugin's /extensionArtifact (x-ms-artifact-location), docs/protocol.md §3.3, §3.5. They are
// found by URL path, whatever the host, so a manifest can name any storage account.
//   in-process:   registerArtifact(fabric.state, 'https://acct.blob.core.windows.net/c/Foo__1.0.zip', bytes)
//   control API:  POST /artifacts {"artifacts": {"<URL or /path>": "<base64>", ...}}   GET /artifacts (paths and sizes)
import type { FabricState } from './state.ts';

/** The key of an artifact: the decoded path of its URL (or the path itself). */
export function artifactKey(location: string | URL): string {
  if (location instanceof URL) return decodeURIComponent(location.pathname);
  if (location.startsWith('/')) return decodeURIComponent(location.split('?')[0]!);
  let u: URL;
  try {
    u = new URL(location);
  } catch {
    throw new Error(`artifact location ${JSON.stringify(location)} is neither a URL nor an absolute path`);
  }
  return decodeURIComponent(u.pathname);
}

export function registerArtifact(state: FabricState, location: string, bytes: Buffer | string): void {
  state.artifacts.set(artifactKey(location), Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8'));
}

/** The registered artifact for a blob URL, or null. */
export function findArtifact(state: FabricState, uri: URL): Buffer | null {
  return state.artifacts.get(artifactKey(uri)) ?? null;
}

/** Body of POST /artifacts: {"artifacts": {location: base64}}; returns the list after registering. */
export function registerArtifactsFromJson(state: FabricState, body: unknown): { path: string; bytes: number }[] {
  const map = (body as { artifacts?: unknown } | null)?.artifacts;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new Error('POST /artifacts needs {"artifacts": {"<URL or /path>": "<base64>", ...}}');
  }
  const decoded: [string, Buffer][] = [];
  for (const [location, b64] of Object.entries(map)) {
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error(`artifact ${location} must be base64 text`);
    artifactKey(location);
    decoded.push([location, Buffer.from(b64, 'base64')]);
  }
  for (const [location, bytes] of decoded) registerArtifact(state, location, bytes);
  return listArtifacts(state);
}

export function listArtifacts(state: FabricState): { path: string; bytes: number }[] {
  return [...state.artifacts].map(([path, b]) => ({ path, bytes: b.length }));
}
