// The extension manifest (docs/protocol.md §5.2): the versions of one handler (or of the agent itself) and the
// package URIs of each. `Plugins` and the optional `InternalPlugins` are merged into one list, the latter flagged.
//
// API:
//   parseExtensionManifest(xml: string, what?: string): ExtensionManifest
//   interface ExtensionManifest { packages: ManifestPackage[] }   (document order)
//   interface ManifestPackage { version, uris, isInternal, disallowMajorVersionUpgrade }
import { AgentError } from '../util/errors.ts';
import { childElements, parseXml, textOf, type XmlElement } from '../xml/index.ts';

export interface ManifestPackage {
  /** As written in the manifest, trimmed (e.g. "1.2.3"). */
  readonly version: string;
  /** Package (zip) URLs, trimmed, non-empty ones only; may be empty (ga_manifest_no_uris.xml). */
  readonly uris: readonly string[];
  /** Listed under InternalPlugins. */
  readonly isInternal: boolean;
  /** DisallowMajorVersionUpgrade is "true" in any case (§10 item 23: manifest booleans are strings). */
  readonly disallowMajorVersionUpgrade: boolean;
}

export interface ExtensionManifest {
  readonly packages: readonly ManifestPackage[];
}

const ROOT = 'PluginVersionManifest';
/** A dotted version of numeric components (FlexibleVersion accepts a little more; manifests never use it). */
const VERSION = /^\d+(\.\d+)*$/;

/** The direct children of `el` named `name` (namespace-aware: matched by local name, any prefix). */
function child(el: XmlElement | null, name: string): XmlElement | null {
  return childElements(el, name)[0] ?? null;
}

function packagesOf(list: XmlElement | null, isInternal: boolean, what: string): ManifestPackage[] {
  return childElements(list, 'Plugin').map((plugin, i) => {
    const where = `${isInternal ? 'InternalPlugins' : 'Plugins'} entry ${i + 1}`;
    const version = textOf(child(plugin, 'Version'))?.trim() ?? '';
    if (version === '') {
      throw new AgentError('protocol', `the ${what} has no Version in its ${where}`, { document: what, entry: where });
    }
    if (!VERSION.test(version)) {
      throw new AgentError('protocol', `the ${what} has the version "${version}" in its ${where}, which is not a dotted number`, {
        document: what,
        version,
      });
    }
    const uris = childElements(child(plugin, 'Uris'), 'Uri')
      .map((u) => textOf(u)?.trim() ?? '')
      .filter((u) => u !== '');
    const disallow = textOf(child(plugin, 'DisallowMajorVersionUpgrade'))?.trim().toLowerCase() === 'true';
    return { version, uris, isInternal, disallowMajorVersionUpgrade: disallow };
  });
}

/**
 * Parses a manifest. `what` names it in errors ("the manifest of Microsoft.Foo.Bar is not well-formed XML …").
 * Throws AgentError('xml') for malformed XML and AgentError('protocol') for a wrong root or an entry without a
 * (dotted-number) version.
 */
export function parseExtensionManifest(xml: string, what = 'extension manifest'): ExtensionManifest {
  const root = parseXml(xml, what);
  if (root.localName !== ROOT) {
    throw new AgentError('protocol', `the ${what} has the root element ${root.name}, expected ${ROOT}`, {
      document: what,
      root: root.name,
    });
  }
  // An empty list is not an error here: uninstall does not need the manifest (§5.2), and version choice says
  // "Unable to find version … in manifest" for enable.
  return { packages: [...packagesOf(child(root, 'Plugins'), false, what), ...packagesOf(child(root, 'InternalPlugins'), true, what)] };
}
