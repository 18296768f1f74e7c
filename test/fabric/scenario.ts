// The platform documents the emulator serves: a SCENARIO is a directory of recorded documents, named as in
// the Python agent's tests/data/wire (goal_state.xml, ...) or as in its goal-state history folders
// (GoalState.xml, ... as in tests/data/hibernate/goal_state_N). Documents a scenario lacks fall back to the
// defaults only where the platform always has one (versions, IMDS); the others are then "not found" (404).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FIXTURES } from '../helpers/paths.ts';

export type DocName =
  | 'versions'
  | 'goalState'
  | 'hostingEnv'
  | 'sharedConfig'
  | 'extensionsConfig'
  | 'certificates'
  | 'remoteAccess'
  | 'vmSettings'
  | 'imds';

export const DOC_NAMES: readonly DocName[] = [
  'versions',
  'goalState',
  'hostingEnv',
  'sharedConfig',
  'extensionsConfig',
  'certificates',
  'remoteAccess',
  'vmSettings',
  'imds',
];

export const DATA = join(FIXTURES, 'tests', 'data');

/** File names looked up in a scenario directory, in order: the tests/data/wire names, then the history names. */
const FILE_NAMES: Record<DocName, string[]> = {
  versions: ['version_info.xml', 'Versions.xml'],
  goalState: ['goal_state.xml', 'GoalState.xml'],
  hostingEnv: ['hosting_env.xml', 'HostingEnvironmentConfig.xml'],
  sharedConfig: ['shared_config.xml', 'SharedConfig.xml'],
  extensionsConfig: ['ext_conf.xml', 'ExtensionsConfig.xml'],
  certificates: ['certs.xml', 'Certificates.xml'],
  remoteAccess: ['remote_access.xml', 'RemoteAccess.xml'],
  vmSettings: ['vm_settings.json', 'VmSettings.json'],
  imds: ['imds.json', 'imds_instance.json'],
};

/** The default scenario (the Python agent's DATA_FILE set plus Fast Track): recorded fixtures, verbatim. */
const DEFAULT_FILES: Partial<Record<DocName, string>> = {
  versions: join(DATA, 'wire', 'version_info.xml'),
  goalState: join(DATA, 'wire', 'goal_state.xml'),
  hostingEnv: join(DATA, 'wire', 'hosting_env.xml'),
  sharedConfig: join(DATA, 'wire', 'shared_config.xml'),
  extensionsConfig: join(DATA, 'wire', 'ext_conf.xml'),
  certificates: join(DATA, 'wire', 'certs.xml'),
  vmSettings: join(DATA, 'hostgaplugin', 'vm_settings.json'),
  imds: join(DATA, 'imds', 'valid.json'),
};

/** Documents every scenario has: the platform always answers these. */
const ALWAYS: readonly DocName[] = ['versions', 'imds'];

/** The transport key pair a scenario's Certificates document was encrypted to (to recover the PFX inside). */
export interface TransportKeyPair {
  key: string;
  cert: string;
}

export interface Scenario {
  /** directory, or 'default' */
  name: string;
  files: Partial<Record<DocName, string>>;
  /** the documents replaced by --doc / POST /goal-state "docs" (name → file) */
  overrides: Partial<Record<DocName, string>>;
  docs: Partial<Record<DocName, Buffer>>;
  transport: TransportKeyPair | null;
}

const KEY_PAIRS: [string, string][] = [
  ['trans_prv', 'trans_cert'],
  ['TransportPrivate.pem', 'TransportCert.pem'],
];

function findKeyPair(dirs: string[]): TransportKeyPair | null {
  for (const dir of dirs) {
    for (const [key, cert] of KEY_PAIRS) {
      if (existsSync(join(dir, key)) && existsSync(join(dir, cert))) return { key: join(dir, key), cert: join(dir, cert) };
    }
  }
  return null;
}

/**
 * Loads a scenario: `dir` undefined = the default one. `overrides` (from --doc NAME=FILE) replace single documents.
 * Throws with one sentence when the directory or a named file is missing or the scenario has no goal state.
 */
export function loadScenario(dir?: string, overrides: Partial<Record<DocName, string>> = {}): Scenario {
  const files: Partial<Record<DocName, string>> = {};
  let transport: TransportKeyPair | null;
  if (dir === undefined) {
    Object.assign(files, DEFAULT_FILES);
    transport = { key: join(DATA, 'wire', 'trans_prv'), cert: join(DATA, 'wire', 'trans_cert') };
  } else {
    const abs = resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new Error(`scenario directory ${abs} does not exist`);
    for (const name of DOC_NAMES) {
      const found = FILE_NAMES[name].map((f) => join(abs, f)).find((p) => existsSync(p));
      if (found) files[name] = found;
      else if (ALWAYS.includes(name)) files[name] = DEFAULT_FILES[name]!;
    }
    transport = findKeyPair([abs, dirname(abs)]);
  }
  for (const [name, file] of Object.entries(overrides) as [DocName, string][]) {
    if (!DOC_NAMES.includes(name)) throw new Error(`unknown document name "${name}" (one of ${DOC_NAMES.join(', ')})`);
    if (!existsSync(file)) throw new Error(`document file ${file} for ${name} does not exist`);
    files[name] = resolve(file);
  }
  if (!files.goalState) throw new Error(`scenario ${dir} has no goal state (goal_state.xml or GoalState.xml)`);
  const docs: Partial<Record<DocName, Buffer>> = {};
  for (const [name, file] of Object.entries(files) as [DocName, string][]) docs[name] = readFileSync(file);
  return { name: dir ?? 'default', files, overrides: { ...overrides }, docs, transport };
}

export const PLATFORM_ADDRESS = '168.63.129.16';

/**
 * Rewrites the platform address in a served document (--rewrite-address): `168.63.129.16:32526` (the HostGAPlugin
 * form) becomes host:hostPluginPort, `168.63.129.16:80` and a bare `168.63.129.16` become host[:port].
 */
export function rewriteAddress(text: string, host: string, port: number, hostPluginPort: number): string {
  const ws = port === 80 ? host : `${host}:${port}`;
  return text
    .replaceAll(`${PLATFORM_ADDRESS}:32526`, `${host}:${hostPluginPort}`)
    .replaceAll(`${PLATFORM_ADDRESS}:80`, `${host}:${port}`)
    .replaceAll(PLATFORM_ADDRESS, ws);
}

/** Replaces the incarnation of a goal state (the <Incarnation> element and the incarnation= of its URLs). */
export function setIncarnation(text: string, incarnation: string): string {
  return text
    .replace(/<Incarnation>[^<]*<\/Incarnation>/, `<Incarnation>${incarnation}</Incarnation>`)
    .replace(/([?&]|&amp;)incarnation=\d+/g, `$1incarnation=${incarnation}`);
}

/** The <Incarnation> of a goal state document, or null. */
export function incarnationOf(text: string): string | null {
  return /<Incarnation>\s*([^<\s]*)\s*<\/Incarnation>/.exec(text)?.[1] ?? null;
}
