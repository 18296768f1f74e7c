// In-memory fakes of the lifecycle ports (src/extensions/lifecycle/ports.ts): a lib dir of handler versions
// with their state files, a manifest of available versions, and a command runner that records every command
// and can fail, time out, or "kill the agent" at a chosen command.
import { AgentError } from '../../../src/util/errors.ts';
import type { ExtensionHandler, ExtensionSettings } from '../../../src/fabric/documents/index.ts';
import { commandError } from '../../../src/extensions/command-outcome.ts';
import { OPERATIONS } from '../../../src/extensions/handler-operations.ts';
import type {
  CommandRequest,
  CommandResult,
  ExtensionState,
  HandlerManifest,
  HandlerState,
  HandlerStatus,
  LifecyclePorts,
} from '../../../src/extensions/lifecycle/ports.ts';
import { ExtensionsProcessor, type ProcessorOptions } from '../../../src/extensions/lifecycle/process.ts';
import { fromExtensionsConfig, type ExtensionsGoalState } from '../../../src/extensions/lifecycle/source.ts';

/** Thrown by every port once the fake agent has been "killed". */
export class Killed extends Error {}

interface Dir {
  state: HandlerState | null;
  status: HandlerStatus | null;
  extStates: Map<string, ExtensionState>;
  settings: string[];
  statusFiles: Map<string, string>;
}

export interface Run {
  op: string;
  who: string;
  version: string;
  env: Record<string, string>;
  seqNo: number;
}

export class World {
  readonly dirs = new Map<string, Dir>();
  readonly runs: Run[] = [];
  readonly events: string[] = [];
  /** name → versions the manifest offers */
  readonly available = new Map<string, string[]>();
  readonly manifests = new Map<string, Partial<HandlerManifest>>();
  /** "<op> <who> <version>" → exit code, or 'timeout' */
  readonly failures = new Map<string, number | 'timeout'>();
  /** "<op> <who> <version>" → the error the command's result carries, as it is */
  readonly errors = new Map<string, AgentError>();
  /** "<op> <who> <version>": the agent dies while this command runs ('during') or right after it ('after'). */
  killAt: { key: string; when: 'during' | 'after' } | null = null;
  dead = false;
  downloadFails = false;
  /** "<name>-<version>" whose package signature was validated on install (package_validated). */
  readonly validated = new Set<string>();
  /** Handler names whose package signature does not verify. */
  readonly badSignatures = new Set<string>();
  /** installPackage calls with signatureRequired set: "<name> <version>". */
  readonly signatureRequiredInstalls: string[] = [];
  now = 1_000_000;
  /** status file answer for dependency waits: key "<name>|<ext>|<seq>" */
  readonly extStatus = new Map<string, string>();
  readonly placeholders: Array<{ key: string; code: number; message: string; overwrite: boolean }> = [];

  #alive(): void {
    if (this.dead) throw new Killed('the agent was killed');
  }

  key(name: string, version: string): string {
    return `${name}-${version}`;
  }

  dir(name: string, version: string): Dir | undefined {
    return this.dirs.get(this.key(name, version));
  }

  #dirOrCreate(name: string, version: string): Dir {
    const k = this.key(name, version);
    let d = this.dirs.get(k);
    if (!d) {
      d = { state: null, status: null, extStates: new Map(), settings: [], statusFiles: new Map() };
      this.dirs.set(k, d);
    }
    return d;
  }

  /** The agent process comes back after a kill. */
  restart(): void {
    this.dead = false;
    this.killAt = null;
  }

  ports(): LifecyclePorts {
    const w = this;
    return {
      packages: {
        async chooseVersion(h: ExtensionHandler): Promise<string> {
          w.#alive();
          const list = w.available.get(h.name) ?? [h.version];
          const match = list.filter((v) => v === h.version || v.startsWith(h.version + '.'));
          if (match.length === 0) throw new Error(`Unable to find version ${h.version} in manifest for extension ${h.name}`);
          return match[match.length - 1]!;
        },
        async installPackage(
          h: ExtensionHandler,
          version: string,
          _fastTrack: boolean,
          opts?: { signatureRequired: boolean },
        ): Promise<void> {
          w.#alive();
          if (w.downloadFails) throw new Error('the package download failed with HTTP 500');
          if (opts?.signatureRequired) w.signatureRequiredInstalls.push(`${h.name} ${version}`);
          if (h.encodedSignature) {
            if (!w.badSignatures.has(h.name)) w.validated.add(w.key(h.name, version));
            else if (opts?.signatureRequired) {
              throw new AgentError(
                'extension',
                `Signature validation failed for package '${h.name}-${version}'. Error: bad signature`,
                { code: 1007 },
                undefined,
                'disallowed',
              );
            }
          }
          w.#dirOrCreate(h.name, version);
          w.events.push(`unpack ${h.name} ${version}`);
        },
        readManifest(name: string, version: string): HandlerManifest {
          w.#alive();
          return {
            installCommand: 'install.sh',
            uninstallCommand: 'uninstall.sh',
            updateCommand: 'update.sh',
            enableCommand: 'enable.sh',
            disableCommand: 'disable.sh',
            updateWithInstall: true,
            continueOnUpdateFailure: false,
            supportsMultipleExtensions: false,
            ...w.manifests.get(name),
            ...w.manifests.get(`${name} ${version}`),
          };
        },
        writeSettings(name: string, version: string, settings: readonly ExtensionSettings[], multi: boolean): void {
          w.#alive();
          const d = w.#dirOrCreate(name, version);
          const files =
            settings.length === 0 ? ['0.settings'] : settings.map((s) => (multi ? `${s.name}.${s.seqNo}.settings` : `${s.seqNo}.settings`));
          d.settings = [...new Set([...d.settings, ...files])].sort();
          w.events.push(`settings ${name} ${version} ${d.settings.join(',')}`);
        },
        copyStatusFiles(name: string, from: string, to: string): void {
          w.#alive();
          const src = w.dir(name, from);
          const dst = w.#dirOrCreate(name, to);
          for (const [k, v] of src?.statusFiles ?? []) dst.statusFiles.set(k, v);
          w.events.push(`copy-status ${name} ${from} → ${to}`);
        },
        removeExtensionFiles(name: string, version: string, ext: string): void {
          w.#alive();
          const d = w.dir(name, version);
          if (d) d.settings = d.settings.filter((s) => !s.startsWith(`${ext}.`));
          w.events.push(`remove-ext ${name}.${ext} ${version}`);
        },
        removeHandler(name: string, version: string): void {
          w.#alive();
          w.dirs.delete(w.key(name, version));
          w.events.push(`remove ${name} ${version}`);
        },
        signatureValidated(name: string, version: string): boolean {
          return w.validated.has(w.key(name, version));
        },
        handlersOnDisk() {
          w.#alive();
          return [...w.dirs.keys()].map((k) => {
            const i = k.lastIndexOf('-');
            return { name: k.slice(0, i), version: k.slice(i + 1) };
          });
        },
        removeOrphanPackages(): void {
          w.#alive();
        },
      },
      state: {
        handlerState: (n, v) => {
          w.#alive();
          return w.dir(n, v)?.state ?? 'NotInstalled';
        },
        setHandlerState: (n, v, s) => {
          w.#alive();
          w.#dirOrCreate(n, v).state = s;
        },
        handlerStatus: (n, v) => {
          w.#alive();
          return w.dir(n, v)?.status ?? null;
        },
        setHandlerStatus: (n, v, s) => {
          w.#alive();
          w.#dirOrCreate(n, v).status = s;
        },
        extensionState: (n, v, e) => {
          w.#alive();
          return w.dir(n, v)?.extStates.get(e) ?? 'disabled';
        },
        setExtensionState: (n, v, e, s) => {
          w.#alive();
          w.#dirOrCreate(n, v).extStates.set(e, s);
        },
        enabledExtensions: (n, v) => [...(w.dir(n, v)?.extStates ?? [])].filter(([, s]) => s === 'enabled').map(([e]) => e),
      },
      commands: {
        async run(req: CommandRequest): Promise<CommandResult> {
          w.#alive();
          const who = req.extensionName ? `${req.name}.${req.extensionName}` : req.name;
          const key = `${req.operation} ${who} ${req.version}`;
          w.runs.push({ op: req.operation, who, version: req.version, env: req.env, seqNo: req.seqNo });
          w.events.push(`run ${key}`);
          if (w.killAt?.key === key) {
            if (w.killAt.when === 'during') {
              w.dead = true;
              throw new Killed(`killed during ${key}`);
            }
          }
          const f = w.failures.get(key);
          const res: CommandResult = { error: w.errors.get(key) ?? (f ? failedCommand(req, f) : null) };
          if (w.killAt?.key === key && w.killAt.when === 'after') w.dead = true;
          return res;
        },
      },
      statuses: {
        async statusOf(name, _version, ext, seqNo) {
          w.#alive();
          return w.extStatus.get(`${name}|${ext ?? ''}|${seqNo}`) ?? null;
        },
        writePlaceholder(name, version, ext, seqNo, s, overwrite) {
          w.#alive();
          w.placeholders.push({ key: `${name}-${version}/${ext}.${seqNo}`, code: s.code, message: s.message, overwrite });
        },
      },
      clock: {
        now: () => w.now,
        sleep: async (ms: number) => {
          w.now += ms;
        },
      },
    };
  }

  processor(opts: Partial<ProcessorOptions> = {}): ExtensionsProcessor {
    return new ExtensionsProcessor({
      ports: this.ports(),
      extensionsEnabled: true,
      supportedFeatures: ['MultipleExtensionsPerHandler'],
      honourOnHold: true,
      configPath: '/etc/waagent.conf',
      dependencyTimeoutMs: 60_000,
      ...opts,
    });
  }

  /** Commands run since the last call, as "<op> <who> <version>". */
  take(): string[] {
    const out = this.runs.splice(0).map((r) => `${r.op} ${r.who} ${r.version}`);
    this.events.length = 0;
    return out;
  }
}

/** The error the real runner reports for a command that exited with `f` or timed out (command-outcome.ts). */
function failedCommand(req: CommandRequest, f: number | 'timeout'): AgentError {
  const timedOut = f === 'timeout';
  return commandError({
    operation: req.operation,
    outcome: timedOut ? 'timeout' : 'failed',
    command: req.command,
    name: req.name,
    version: req.version,
    ...(req.extensionName !== null ? { extensionName: req.extensionName } : {}),
    exitCode: timedOut ? null : f,
    signal: timedOut ? 'SIGKILL' : null,
    timeoutSeconds: OPERATIONS[req.operation].timeoutSeconds,
    reason: `the ${req.operation} command of ${req.name} ${timedOut ? 'timed out' : `failed with exit code ${f}`}`,
    output: timedOut ? '[stdout]\nhung\n' : `[stderr]\nfailed with ${f}`,
  });
}

export function settings(name: string, seqNo: number, extra: Partial<ExtensionSettings> = {}): ExtensionSettings {
  return {
    name,
    seqNo,
    state: 'enabled',
    dependencyLevel: 0,
    publicSettings: { n: seqNo },
    protectedSettings: null,
    certificateThumbprint: null,
    ...extra,
  };
}

export function handler(name: string, version: string, extra: Partial<ExtensionHandler> = {}): ExtensionHandler {
  return {
    name,
    version,
    state: 'enabled',
    manifestUris: ['http://manifest'],
    autoUpgrade: false,
    runAsStartupTask: false,
    isJson: true,
    useExactVersion: true,
    encodedSignature: null,
    isMultiConfig: false,
    settings: [settings(name, 0)],
    invalidReason: null,
    ...extra,
  };
}

let incarnation = 0;
export function goalState(handlers: ExtensionHandler[], extra: Partial<ExtensionsGoalState> = {}): ExtensionsGoalState {
  incarnation += 1;
  return { ...fromExtensionsConfig(String(incarnation), null), handlers, ...extra };
}
