// ExtensionsConfig (docs/protocol.md §5.1), the Fabric extensions goal state, as a summary.
// A problem with one handler's settings makes THAT handler invalid, with a reason; it never drops
// the handler nor fails the whole document (§10 item 17).
import { attr, find, findAll, findText, textOf, urlOf, type XmlElement } from '../../xml/index.ts';
import { boolAttr, parseDocument } from './common.ts';
import { extensionNameProblem, handlerNameProblem } from './names.ts';
import { settingsLimitProblem } from './settings-limits.ts';
import {
  type ExtensionHandler,
  type ExtensionSettings,
  type GaFamily,
  type GoalStateMetadata,
  type StatusUploadBlob,
  ticksToDate,
  toId,
  toStatusBlobType,
  toTicks,
} from './extensions-summary.ts';

export interface ExtensionsConfig {
  /** Extensions/@goalStateIncarnation; "" when missing. */
  readonly goalStateIncarnation: string;
  readonly gaFamilies: readonly GaFamily[];
  readonly requiredFeatures: readonly string[];
  readonly statusUploadBlob: StatusUploadBlob;
  /** InVMArtifactsProfileBlob URL (on-hold flag), or null. */
  readonly inVmArtifactsProfileUrl: string | null;
  readonly metadata: GoalStateMetadata;
  readonly handlers: readonly ExtensionHandler[];
}

const WHAT = 'extensions config';

/** Thrown inside this module for a per-handler problem; becomes the handler's invalidReason. */
class InvalidHandler extends Error {}

export function parseExtensionsConfig(xml: string): ExtensionsConfig {
  const root = parseDocument(xml, WHAT, 'Extensions');
  const blob = find(root, 'StatusUploadBlob');
  const meta = find(root, 'InVMGoalStateMetaData');
  const createdOnTicks = toTicks(attr(meta, 'createdOnTicks'));
  const seq = attr(meta, 'inSvdSeqNo').trim();
  const pluginSettings = findAll(find(root, 'PluginSettings'), 'Plugin');
  return {
    goalStateIncarnation: attr(root, 'goalStateIncarnation'),
    gaFamilies: findAll(find(root, 'GAFamilies'), 'GAFamily').map(parseGaFamily),
    requiredFeatures: findAll(find(root, 'RequiredFeatures'), 'RequiredFeature')
      .map((f) => findText(f, 'Name'))
      .filter((n): n is string => n !== null),
    statusUploadBlob: { url: urlOf(root, 'StatusUploadBlob'), type: toStatusBlobType(attr(blob, 'statusBlobType')) },
    inVmArtifactsProfileUrl: urlOf(root, 'InVMArtifactsProfileBlob'),
    metadata: {
      activityId: toId(attr(meta, 'activityId')),
      correlationId: toId(attr(meta, 'correlationId')),
      createdOnTicks,
      createdOn: ticksToDate(createdOnTicks),
      inSvdSeqNo: /^\d+$/.test(seq) ? Number(seq) : null,
    },
    handlers: findAll(find(root, 'Plugins'), 'Plugin').map((p) => parseHandler(p, pluginSettings)),
  };
}

function parseGaFamily(f: XmlElement): GaFamily {
  return {
    name: findText(f, 'Name') ?? '',
    version: findText(f, 'Version'),
    fromVersion: findText(f, 'FromVersion'),
    isVersionFromRSM: boolAttr(findText(f, 'IsVersionFromRSM')),
    isVMEnabledForRSMUpgrades: boolAttr(findText(f, 'IsVMEnabledForRSMUpgrades')),
    uris: findAll(find(f, 'Uris'), 'Uri')
      .map((u) => textOf(u)?.trim() ?? '')
      .filter((u) => u !== ''),
  };
}

function parseHandler(plugin: XmlElement, pluginSettings: readonly XmlElement[]): ExtensionHandler {
  const name = attr(plugin, 'name');
  const version = attr(plugin, 'version');
  const state = attr(plugin, 'state');
  const additional = findAll(find(plugin, 'additionalLocations'), 'additionalLocation').map((l) => textOf(l)?.trim() ?? '');
  let settings: ExtensionSettings[] = [];
  let isMultiConfig = false;
  let invalidReason: string | null = null;
  try {
    // A name that cannot be a path makes the handler invalid before anything reads its settings (names.ts).
    const unsafe = handlerNameProblem(name, version);
    if (unsafe !== null) throw new InvalidHandler(unsafe);
    if (state === '') throw new InvalidHandler(`the handler ${name} ${version} has an empty state in Plugins/Plugin`);
    ({ settings, isMultiConfig } = parseSettings(name, version, pluginSettings));
  } catch (e) {
    if (!(e instanceof InvalidHandler)) throw e;
    invalidReason = e.message;
  }
  return {
    name,
    version,
    state,
    manifestUris: [attr(plugin, 'location'), attr(plugin, 'failoverlocation'), ...additional].filter((u) => u !== ''),
    autoUpgrade: boolAttr(attr(plugin, 'autoUpgrade')),
    runAsStartupTask: boolAttr(attr(plugin, 'runAsStartupTask')),
    isJson: boolAttr(attr(plugin, 'isJson')),
    useExactVersion: boolAttr(attr(plugin, 'useExactVersion')),
    encodedSignature: attr(plugin, 'encodedSignature') || null,
    isMultiConfig,
    settings,
    invalidReason,
  };
}

/** Matches PluginSettings/Plugin to the handler: name case-insensitively, version exactly (§5.1). */
function parseSettings(
  name: string,
  version: string,
  pluginSettings: readonly XmlElement[],
): { settings: ExtensionSettings[]; isMultiConfig: boolean } {
  const byName = pluginSettings.filter((p) => attr(p, 'name').toLowerCase() === name.toLowerCase());
  if (byName.length === 0) return { settings: [], isMultiConfig: false };
  const matching = byName.filter((p) => attr(p, 'version') === version);
  if (matching.length !== byName.length) {
    const found = [...new Set(byName.map((p) => attr(p, 'version')))].join(', ');
    throw new InvalidHandler(
      `PluginSettings Version Mismatch: the handler ${name} is version ${version} but its PluginSettings have version ${found}`,
    );
  }
  if (matching.length > 1) {
    throw new InvalidHandler(`the handler ${name} ${version} has ${matching.length} PluginSettings entries, expected one`);
  }
  const node = matching[0]!;
  const single = findAll(node, 'RuntimeSettings');
  const multi = findAll(node, 'ExtensionRuntimeSettings');
  const tooMuch = settingsLimitProblem(
    `${name} ${version}`,
    [...single, ...multi].map((n) => textOf(n) ?? ''),
  );
  if (tooMuch !== null) throw new InvalidHandler(tooMuch);
  const dependsOn = findAll(node, 'DependsOn');
  if (single.length > 0 && multi.length > 0) {
    throw new InvalidHandler(`the handler ${name} ${version} has both RuntimeSettings and ExtensionRuntimeSettings`);
  }
  if (multi.length > 0) {
    // Multi-config: one ExtensionRuntimeSettings per extension, each DependsOn names its extension.
    const levels = new Map<string, number>();
    for (const d of dependsOn) {
      const ext = attr(d, 'name');
      if (ext === '') throw new InvalidHandler(`a DependsOn of the multi-config handler ${name} ${version} has no name`);
      levels.set(ext, dependencyLevel(d));
    }
    const settings = multi.flatMap((s) => {
      const ext = attr(s, 'name');
      if (ext === '') {
        throw new InvalidHandler(`an ExtensionRuntimeSettings of the multi-config handler ${name} ${version} has no name`);
      }
      const state = attr(s, 'state').toLowerCase() || 'enabled';
      return settingsFrom(s, ext, state, levels.get(ext) ?? 0, `${name} ${version}`);
    });
    return { settings, isMultiConfig: true };
  }
  if (single.length > 1) {
    throw new InvalidHandler(`the handler ${name} ${version} has ${single.length} RuntimeSettings, a single-config handler takes one`);
  }
  if (dependsOn.length > 1) {
    throw new InvalidHandler(`the handler ${name} ${version} has ${dependsOn.length} DependsOn, a single-config handler takes at most one`);
  }
  if (single.length === 0) return { settings: [], isMultiConfig: false };
  const level = dependsOn[0] ? dependencyLevel(dependsOn[0]) : 0;
  return { settings: settingsFrom(single[0]!, name, 'enabled', level, `${name} ${version}`), isMultiConfig: false };
}

/** DependsOn/@dependencyLevel; 0 when not an integer (§5.1). */
function dependencyLevel(d: XmlElement): number {
  const v = attr(d, 'dependencyLevel').trim();
  return /^-?\d+$/.test(v) ? Number(v) : 0;
}

/** One RuntimeSettings / ExtensionRuntimeSettings element → its settings objects. */
function settingsFrom(node: XmlElement, name: string, state: string, level: number, handler: string): ExtensionSettings[] {
  const unsafe = extensionNameProblem(handler, name);
  if (unsafe !== null) throw new InvalidHandler(unsafe);
  const seq = attr(node, 'seqNo').trim();
  if (seq === '') throw new InvalidHandler(`the settings ${name} of the handler ${handler} have no seqNo`);
  if (!/^\d+$/.test(seq)) throw new InvalidHandler(`the settings ${name} of the handler ${handler} have the seqNo "${seq}", not a number`);
  const seqNo = Number(seq);
  const empty: ExtensionSettings = {
    name,
    seqNo,
    state,
    dependencyLevel: level,
    publicSettings: null,
    protectedSettings: null,
    certificateThumbprint: null,
  };
  let json: unknown;
  try {
    json = JSON.parse(textOf(node) ?? '');
  } catch {
    // Unparseable settings: keep the name and seqNo so that status can still be reported (§5.1).
    return [empty];
  }
  const list = (json as { runtimeSettings?: unknown } | null)?.runtimeSettings;
  if (!Array.isArray(list)) {
    throw new InvalidHandler(`the settings ${name} of the handler ${handler} have no runtimeSettings array`);
  }
  return list.map((entry: unknown) => {
    const hs = (entry as { handlerSettings?: unknown } | null)?.handlerSettings;
    if (typeof hs !== 'object' || hs === null || Array.isArray(hs)) {
      throw new InvalidHandler(`the settings ${name} of the handler ${handler} have a runtimeSettings entry without handlerSettings`);
    }
    const h = hs as Record<string, unknown>;
    return {
      ...empty,
      publicSettings: h.publicSettings ?? null,
      protectedSettings: typeof h.protectedSettings === 'string' ? h.protectedSettings : null,
      certificateThumbprint: typeof h.protectedSettingsCertThumbprint === 'string' ? h.protectedSettingsCertThumbprint : null,
    };
  });
}
