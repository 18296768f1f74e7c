// The extension policy (`Debug.EnableExtensionPolicy`, `Policy.PolicyFilePath`): the customer's JSON file, with the
// schema, defaults, version limit and error messages of the Python agent's azurelinuxagent/ga/policy/policy_engine.py
// (2.15), read once per extensions goal state:
//
//   {
//     "policyVersion": "0.1.0",                       required, "major[.minor[.patch]]", at most 0.1.0
//     "extensionPolicies": {                          optional
//       "allowListedExtensionsOnly": false,           optional: only the extensions listed below may run
//       "signatureRequired": false,                   optional: every extension must be signed
//       "extensions": {                               optional; names match case-insensitively
//         "<Publisher.Type>": { "signatureRequired": <bool>, "runtimePolicy": <any> }   both optional
//       }
//     }
//   }
//
// Unknown attributes, wrong types and unsupported versions make the policy invalid; an invalid policy blocks every
// extension (the caller reports the error for each). The policy applies only when the switch is on AND the file exists.
import { existsSync, readFileSync } from 'node:fs';
import { AgentError, describeError } from '../util/errors.ts';

/** Upstream's _MAX_SUPPORTED_POLICY_VERSION. */
export const MAX_SUPPORTED_POLICY_VERSION = '0.1.0';

export interface ExtensionRule {
  signatureRequired?: boolean;
  runtimePolicy?: unknown;
}

export interface ExtensionPolicyDocument {
  policyVersion: string;
  allowListedExtensionsOnly: boolean;
  signatureRequired: boolean;
  /** By lower-cased extension name (CRP ignores the case of names). */
  extensions: ReadonlyMap<string, ExtensionRule>;
}

/** What the lifecycle asks of the policy. With enforcement off everything is allowed and nothing must be signed. */
export interface ExtensionPolicy {
  readonly enforced: boolean;
  /** The file's text as read (for the goal-state history), null when not enforced. */
  readonly fileContents: string | null;
  allows(extensionName: string): boolean;
  requiresSignature(extensionName: string): boolean;
}

export const NO_POLICY: ExtensionPolicy = {
  enforced: false,
  fileContents: null,
  allows: () => true,
  requiresSignature: () => false,
};

/** Upstream's InvalidPolicyError text: "[InvalidPolicyError] Customer-provided policy file (…) is invalid, …". */
export function invalidPolicy(path: string, problem: string, inner?: unknown): AgentError {
  let message = `[InvalidPolicyError] Customer-provided policy file ('${path}') is invalid, please correct the following error: ${problem}`;
  if (inner !== undefined) message += `\nInner error: ${describeError(inner)}`;
  return new AgentError('extension', message, { policyFile: path }, inner);
}

/** Python's type names, which upstream's messages use ("invalid type str for attribute …"). */
function pythonType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return 'dict';
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks a policy document (already JSON-decoded); throws the invalid-policy error naming the problem. */
export function parsePolicy(doc: unknown, path: string): ExtensionPolicyDocument {
  const invalid = (problem: string): never => {
    throw invalidPolicy(path, problem);
  };
  const checkAttributes = (o: Obj, name: string, valid: readonly string[]) => {
    for (const k of Object.keys(o)) if (!valid.includes(k)) invalid(`unrecognized attribute '${k}' in ${name}`);
  };
  // A null value counts as absent, as upstream's dict.get() does.
  function value<T>(
    o: Obj,
    attr: string,
    prefix: string,
    test: (v: unknown) => v is T,
    typeName: string,
    optional: boolean,
  ): T | undefined {
    const v = o[attr];
    if (v === undefined || v === null) {
      if (!optional) invalid(`missing required attribute '${prefix}${attr}'`);
      return undefined;
    }
    if (!test(v)) invalid(`invalid type ${pythonType(v)} for attribute '${prefix}${attr}'; must be '${typeName}'`);
    return v as T;
  }
  const isString = (v: unknown): v is string => typeof v === 'string';
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

  if (!isObject(doc)) return invalid(`expected an object describing a Policy; got ${pythonType(doc)}.`);
  checkAttributes(doc, 'policy', ['policyVersion', 'extensionPolicies']);

  const version = value(doc, 'policyVersion', '', isString, 'string', false)!;
  if (!/^\d+(\.\d+(\.\d+)?)?$/.test(version)) {
    invalid(
      `invalid value for attribute 'policyVersion': '${version}'; it should be in format 'major[.minor[.patch]]' (e.g., '1', '1.0', '1.0.0')`,
    );
  }
  if (compareVersions(version, MAX_SUPPORTED_POLICY_VERSION) > 0) {
    invalid(`policy version '${version}' is not supported. The agent supports policy versions up to '${MAX_SUPPORTED_POLICY_VERSION}'.`);
  }

  const ep = value(doc, 'extensionPolicies', '', isObject, 'object', true) ?? {};
  checkAttributes(ep, 'extensionPolicies', ['allowListedExtensionsOnly', 'signatureRequired', 'extensions']);
  const prefix = 'extensionPolicies.';
  const allowListedExtensionsOnly = value(ep, 'allowListedExtensionsOnly', prefix, isBool, 'boolean', true) ?? false;
  const signatureRequired = value(ep, 'signatureRequired', prefix, isBool, 'boolean', true) ?? false;
  const list = value(ep, 'extensions', prefix, isObject, 'object', true) ?? {};
  const extensions = new Map<string, ExtensionRule>();
  for (const [name, rule] of Object.entries(list)) {
    const where = `extensionPolicies.extensions.${name}`;
    if (!isObject(rule)) invalid(`invalid type ${pythonType(rule)} for attribute '${where}'; must be 'object'`);
    const r = rule as Obj;
    checkAttributes(r, where, ['signatureRequired', 'runtimePolicy']);
    const parsed: ExtensionRule = {};
    const sr = value(r, 'signatureRequired', `${where}.`, isBool, 'boolean', true);
    if (sr !== undefined) parsed.signatureRequired = sr;
    if (r.runtimePolicy !== undefined && r.runtimePolicy !== null) parsed.runtimePolicy = r.runtimePolicy;
    extensions.set(name.toLowerCase(), parsed);
  }
  return { policyVersion: version, allowListedExtensionsOnly, signatureRequired, extensions };
}

/** Numeric comparison of dotted versions, missing parts counting as 0 ("0.1" equals "0.1.0"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function policyOf(doc: ExtensionPolicyDocument, fileContents: string): ExtensionPolicy {
  return {
    enforced: true,
    fileContents,
    allows: (name) => !doc.allowListedExtensionsOnly || doc.extensions.has(name.toLowerCase()),
    // A per-extension signatureRequired wins over the global one.
    requiresSignature: (name) => doc.extensions.get(name.toLowerCase())?.signatureRequired ?? doc.signatureRequired,
  };
}

export interface PolicySource {
  /** Debug.EnableExtensionPolicy */
  enabled: boolean;
  /** Policy.PolicyFilePath */
  path: string;
}

/**
 * The policy for this goal state: NO_POLICY when the switch is off or the file is absent; else the parsed file.
 * Throws the invalid-policy error when the file cannot be read, is not JSON, or breaks the schema.
 */
export function loadExtensionPolicy(src: PolicySource): ExtensionPolicy {
  if (!src.enabled || !existsSync(src.path)) return NO_POLICY;
  let text: string;
  try {
    text = readFileSync(src.path, 'utf8');
  } catch (e) {
    throw invalidPolicy(src.path, 'unable to read or load policy file.', e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidPolicy(src.path, `policy file does not conform to valid json syntax. File contents: ${text}`, e);
  }
  return policyOf(parsePolicy(doc, src.path), text);
}
