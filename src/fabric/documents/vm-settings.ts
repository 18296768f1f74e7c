// vmSettings from the HostGAPlugin (Fast Track, docs/protocol.md §3.4), as the same summary as
// ExtensionsConfig. Key names are matched case-insensitively (the service is inconsistent, §10
// item 13); publicSettings arrive as a JSON *string*. Unlike ExtensionsConfig, a malformed
// vmSettings document is rejected as a whole, as the Python agent does.
import { AgentError } from '../../util/errors.ts';
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
import { extensionNameProblem, handlerNameProblem } from './names.ts';
import { settingsLimitProblem } from './settings-limits.ts';

export interface VmSettings {
  readonly hostGAPluginVersion: string | null;
  readonly schemaVersion: string | null;
  /** FastTrack | Fabric as sent; "UNKNOWN" when missing. A Fabric vmSettings is ignored (§2.10). */
  readonly source: string;
  readonly onHold: boolean;
  /** Built from activityId, correlationId, extensionsLastModifiedTickCount and inSvdSeqNo. */
  readonly metadata: GoalStateMetadata;
  readonly statusUploadBlob: StatusUploadBlob;
  readonly requiredFeatures: readonly string[];
  readonly gaFamilies: readonly GaFamily[];
  readonly handlers: readonly ExtensionHandler[];
}

type Json = Record<string, unknown>;
const WHAT = 'vmSettings';

function bad(message: string, context: Record<string, string> = {}): AgentError {
  return new AgentError('protocol', `the ${WHAT} are invalid: ${message}`, { document: WHAT, ...context });
}

/** Case-insensitive key lookup. */
function get(obj: Json, key: string): unknown {
  if (key in obj) return obj[key];
  const k = key.toLowerCase();
  for (const [name, value] of Object.entries(obj)) if (name.toLowerCase() === k) return value;
  return undefined;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(obj: Json, key: string, where: string): string | null {
  const v = get(obj, key);
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  throw bad(`${where}${key} should be a string`);
}

function reqString(obj: Json, key: string, where: string): string {
  const v = optString(obj, key, where);
  if (v === null) throw bad(`${where}${key} is missing`);
  return v;
}

function optArray(obj: Json, key: string, where: string): unknown[] | null {
  const v = get(obj, key);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw bad(`${where}${key} should be an array`);
  return v;
}

function optBool(obj: Json, key: string): boolean {
  const v = get(obj, key);
  return v === true || (typeof v === 'string' && v.toLowerCase() === 'true');
}

function optInt(obj: Json, key: string, where: string): number | null {
  const v = get(obj, key);
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v);
  throw bad(`${where}${key} should be an integer`);
}

/** JSON.parse keeping integers beyond 2^53 (tick counts) exact, as bigint. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^\d+$/.test(context.source)
        ? BigInt(context.source)
        : value,
    );
  } catch (e) {
    // V8 quotes a piece of the document after the reason; the reason alone is the sentence we want.
    const reason = (e as Error).message.replace(/,\s*(?:\.\.\.)?".*$/s, '').replace(/ is not valid JSON$/, '');
    throw new AgentError('json', `the ${WHAT} are not valid JSON (${reason})`, { document: WHAT }, e);
  }
}

export function parseVmSettings(text: string): VmSettings {
  const doc = parseJson(text);
  if (!isObject(doc)) throw bad('the document is not a JSON object');
  const createdOnTicks = toTicks(get(doc, 'extensionsLastModifiedTickCount'));
  const blob = get(doc, 'statusUploadBlob');
  let statusUploadBlob: StatusUploadBlob = { url: null, type: 'BlockBlob' };
  if (blob !== undefined && blob !== null) {
    if (!isObject(blob)) throw bad('statusUploadBlob should be an object');
    statusUploadBlob = { url: reqString(blob, 'value', 'statusUploadBlob.'), type: toStatusBlobType(get(blob, 'statusBlobType')) };
  }
  return {
    hostGAPluginVersion: optString(doc, 'hostGAPluginVersion', ''),
    schemaVersion: optString(doc, 'vmSettingsSchemaVersion', ''),
    source: optString(doc, 'extensionGoalStatesSource', '') ?? 'UNKNOWN',
    onHold: optBool(doc, 'onHold'),
    metadata: {
      activityId: toId(get(doc, 'activityId')),
      correlationId: toId(get(doc, 'correlationId')),
      createdOnTicks,
      createdOn: ticksToDate(createdOnTicks),
      inSvdSeqNo: optInt(doc, 'inSvdSeqNo', ''),
    },
    statusUploadBlob,
    requiredFeatures: (optArray(doc, 'requiredFeatures', '') ?? []).map((f) => {
      if (!isObject(f)) throw bad('a required feature is not an object');
      return reqString(f, 'name', 'requiredFeatures[].');
    }),
    gaFamilies: (optArray(doc, 'gaFamilies', '') ?? []).map(parseGaFamily),
    handlers: (optArray(doc, 'extensionGoalStates', '') ?? []).map(parseHandler),
  };
}

function parseGaFamily(f: unknown): GaFamily {
  if (!isObject(f)) throw bad('a gaFamilies entry is not an object');
  const name = reqString(f, 'name', 'gaFamilies[].');
  const uris = optArray(f, 'uris', `gaFamilies[${name}].`) ?? [];
  return {
    name,
    version: optString(f, 'version', `gaFamilies[${name}].`),
    fromVersion: optString(f, 'fromVersion', `gaFamilies[${name}].`),
    isVersionFromRSM: optBool(f, 'isVersionFromRSM'),
    isVMEnabledForRSMUpgrades: optBool(f, 'isVMEnabledForRSMUpgrades'),
    uris: uris.filter((u): u is string => typeof u === 'string' && u.trim() !== '').map((u) => u.trim()),
  };
}

const STATES = ['enabled', 'disabled', 'uninstall'];

/** A handler reported as invalid (its reason in the status), with nothing that could lead to a download or a path. */
function invalidHandler(name: string, version: string, state: string, reason: string): ExtensionHandler {
  return {
    name,
    version,
    state,
    manifestUris: [],
    autoUpgrade: false,
    runAsStartupTask: false,
    isJson: false,
    useExactVersion: false,
    encodedSignature: null,
    isMultiConfig: false,
    settings: [],
    invalidReason: reason,
  };
}

function parseHandler(h: unknown): ExtensionHandler {
  if (!isObject(h)) throw bad('an extensionGoalStates entry is not an object');
  const name = reqString(h, 'name', 'extensionGoalStates[].');
  const where = `the extension ${name}: `;
  const version = reqString(h, 'version', where);
  const state = reqString(h, 'state', where);
  // A name that cannot be a path makes the handler invalid, not the document (names.ts): it is reported, nothing
  // else of it is read.
  const unsafe = handlerNameProblem(name, version);
  if (unsafe !== null) return invalidHandler(name, version, state, unsafe);
  if (!STATES.includes(state)) throw bad(`${where}state "${state}" is not one of ${STATES.join(', ')}`, { handler: name });
  const isMultiConfig = optBool(h, 'isMultiConfig');
  const additional = optArray(h, 'additionalLocations', where) ?? [];
  // location is absent for handlers being uninstalled (recorded vm_settings-no_manifests.json).
  const manifestUris = [optString(h, 'location', where), optString(h, 'failoverLocation', where), ...additional].filter(
    (u): u is string => typeof u === 'string' && u !== '',
  );
  const list = optArray(h, 'settings', where) ?? [];
  const tooMuch = settingsLimitProblem(
    `${name} ${version}`,
    list.flatMap((s) => (isObject(s) ? [s.publicSettings, s.protectedSettings].filter((t): t is string => typeof t === 'string') : [])),
  );
  if (tooMuch !== null) return invalidHandler(name, version, state, tooMuch);
  if (!isMultiConfig && list.length > 1) throw bad(`${where}a single-config extension has ${list.length} settings`, { handler: name });
  const settings = list.map((s) => parseSettings(s, h, name, state, isMultiConfig));
  const badExtension = settings.map((s) => extensionNameProblem(name, s.name)).find((p) => p !== null);
  if (badExtension) return invalidHandler(name, version, state, badExtension);
  applyDependencyLevels(optArray(h, 'dependsOn', where), settings, name, isMultiConfig);
  return {
    name,
    version,
    state,
    manifestUris,
    autoUpgrade: optBool(h, 'autoUpgrade'),
    runAsStartupTask: optBool(h, 'runAsStartupTask'),
    isJson: optBool(h, 'isJson'),
    useExactVersion: optBool(h, 'useExactVersion'),
    encodedSignature: optString(h, 'encodedSignature', where) || null,
    isMultiConfig,
    settings,
    invalidReason: null,
  };
}

type MutableSettings = { -readonly [K in keyof ExtensionSettings]: ExtensionSettings[K] };

function parseSettings(s: unknown, h: Json, handler: string, handlerState: string, multi: boolean): MutableSettings {
  const where = `the extension ${handler}: `;
  if (!isObject(s)) throw bad(`${where}a settings entry is not an object`);
  const publicText = get(s, 'publicSettings');
  let publicSettings: unknown = null;
  if (typeof publicText === 'string') {
    try {
      publicSettings = JSON.parse(publicText);
    } catch (e) {
      throw new AgentError(
        'json',
        `the ${WHAT} carry publicSettings for ${handler} that are not valid JSON`,
        { document: WHAT, handler },
        e,
      );
    }
  } else if (publicText !== undefined && publicText !== null) {
    throw bad(`${where}publicSettings should be a JSON string`, { handler });
  }
  const protectedSettings = optString(s, 'protectedSettings', where);
  const certificateThumbprint = optString(s, 'protectedSettingsCertThumbprint', where);
  if (protectedSettings !== null && certificateThumbprint === null) {
    throw bad(`${where}protectedSettings come without protectedSettingsCertThumbprint`, { handler });
  }
  const seqNo = multi ? optInt(s, 'seqNo', where) : optInt(h, 'settingsSeqNo', where);
  if (seqNo === null) throw bad(`${where}${multi ? 'seqNo' : 'settingsSeqNo'} is missing`, { handler });
  return {
    name: multi ? reqString(s, 'extensionName', where) : handler,
    seqNo,
    state: multi ? reqString(s, 'extensionState', where) : handlerState,
    dependencyLevel: 0,
    publicSettings,
    protectedSettings,
    certificateThumbprint,
  };
}

/** dependsOn: one entry for single-config, one per named extension for multi-config (§3.4). */
function applyDependencyLevels(dependsOn: unknown[] | null, settings: MutableSettings[], handler: string, multi: boolean): void {
  if (!dependsOn || dependsOn.length === 0) return;
  const where = `the extension ${handler}: `;
  const level = (d: unknown): number => {
    if (!isObject(d)) throw bad(`${where}a dependsOn entry is not an object`);
    return optInt(d, 'dependencyLevel', where) ?? 0;
  };
  if (!multi) {
    if (dependsOn.length > 1) throw bad(`${where}dependsOn has ${dependsOn.length} entries, a single-config extension takes one`);
    const s = settings[0];
    if (s) s.dependencyLevel = level(dependsOn[0]);
    return;
  }
  for (const d of dependsOn) {
    const l = level(d);
    const ext = reqString(d as Json, 'name', where);
    const s = settings.find((x) => x.name === ext);
    if (!s) throw bad(`${where}dependsOn names ${ext}, which has no settings`, { handler });
    s.dependencyLevel = l;
  }
}
