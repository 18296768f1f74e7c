// What the extension end-to-end tests share: handler packages built from small shell scripts (which log every
// command they run to <Lib.Dir>/ops.log and write status files), plugin manifests, ExtensionsConfig documents,
// and a harness around the namespace sandbox + emulator that serves a new goal state and runs the BUILT agent.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createZip, type ZipWriteEntry } from '../../src/archive/zip-write.ts';
import { FAST_RETRIES } from './fast-retries.ts';
import type { StatusUpload } from '../fabric/types.ts';
import { createSandbox, WAAGENT, type EmulatorHandle, type ExecResult, type Sandbox } from '../sandbox/sandbox.ts';

export type Op = 'install' | 'enable' | 'disable' | 'update' | 'uninstall';
export const OPS: readonly Op[] = ['install', 'enable', 'disable', 'update', 'uninstall'];

export const LIB = '/var/lib/waagent';
/** Every script appends one line per command here (the handler dir is the cwd, so ../ops.log). */
export const OPS_LOG = `${LIB}/ops.log`;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Shell that sets $n to the handler's name (the cwd is <Lib.Dir>/<Name>-<Version>), so one package serves any name. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, run by sh
const NAME_SNIPPET = 'n=${PWD##*/}; n=${n%-$AZURE_GUEST_AGENT_EXTENSION_VERSION}';

/** The line a logging script writes: `<op> <name> <version> seq=<n> [ext=<e>] uninstall=<code> from=<old>`. */
export function logSnippet(op: Op): string {
  return (
    `${NAME_SNIPPET}; echo "${op} $n $AZURE_GUEST_AGENT_EXTENSION_VERSION seq=$ConfigSequenceNumber` +
    `\${ConfigExtensionName:+ ext=$ConfigExtensionName} uninstall=$AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE` +
    ` from=$AZURE_GUEST_AGENT_UPDATING_FROM_VERSION" >> ../ops.log`
  );
}

/** Shell that writes a status file for the current sequence number (multi-config: <ext>.<seq>.status). */
export function statusSnippet(status = 'success'): string {
  return (
    `${NAME_SNIPPET}; f=status/\${ConfigExtensionName:+$ConfigExtensionName.}$ConfigSequenceNumber.status; ` +
    `printf '[{"version":1.0,"timestampUTC":"2025-01-01T00:00:00Z","status":{"name":"%s","operation":"Enable",` +
    `"status":"${status}","code":0,"formattedMessage":{"lang":"en-US","message":"enabled %s"}}}]' "\${ConfigExtensionName:-$n}" "$ConfigSequenceNumber" > "$f"`
  );
}

export interface HandlerSpec {
  name: string;
  version: string;
  /** Script bodies (after the logging line) per operation; default: exit 0, and enable writes a success status. */
  scripts?: Partial<Record<Op, string>>;
  /** Replace the logging line of these operations too (the body alone runs). */
  bare?: readonly Op[];
  /** Extra handlerManifest keys (reportHeartbeat, updateMode, supportsMultipleExtensions, ...). */
  manifest?: Record<string, unknown>;
  /** Extra zip entries (written as given: hostile names allowed). */
  extra?: ZipWriteEntry[];
  /** Script file modes (default 0o755). */
  modes?: Partial<Record<Op, number>>;
}

/** A handler package: HandlerManifest.json and bin/<op>.sh for each operation. */
export function handlerZip(spec: HandlerSpec): Buffer {
  const manifest = [
    {
      name: spec.name.split('.').pop(),
      version: 1.0,
      handlerManifest: {
        installCommand: 'bin/install.sh',
        uninstallCommand: 'bin/uninstall.sh',
        updateCommand: 'bin/update.sh',
        // a leading "/" is stripped and joined to the handler dir (§5.8)
        enableCommand: '/bin/enable.sh',
        disableCommand: 'bin/disable.sh',
        reportHeartbeat: false,
        updateMode: 'UpdateWithInstall',
        ...spec.manifest,
      },
    },
  ];
  const entries: ZipWriteEntry[] = [{ name: 'HandlerManifest.json', data: JSON.stringify(manifest) }];
  for (const op of OPS) {
    const body = spec.scripts?.[op] ?? (op === 'enable' ? statusSnippet() : '');
    const log = spec.bare?.includes(op) ? '' : logSnippet(op);
    entries.push({ name: `bin/${op}.sh`, data: `#!/bin/sh\n${log}\n${body}\nexit 0\n`, mode: spec.modes?.[op] ?? 0o755 });
  }
  return createZip([...entries, ...(spec.extra ?? [])], { raw: true });
}

/** A PluginVersionManifest (§5.2) listing each version with its package URIs. */
export function pluginManifest(packages: Array<{ version: string; uris: string[] }>): string {
  const plugins = packages
    .map((p) => `<Plugin><Version>${p.version}</Version><Uris>${p.uris.map((u) => `<Uri>${esc(u)}</Uri>`).join('')}</Uris></Plugin>`)
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><PluginVersionManifest xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Plugins>${plugins}</Plugins></PluginVersionManifest>`;
}

export interface PluginSpec {
  name: string;
  version: string;
  state: 'enabled' | 'disabled' | 'uninstall';
  manifestUrl: string;
  /** single-config settings; omitted = no RuntimeSettings */
  seqNo?: number;
  publicSettings?: Record<string, unknown>;
  /** single-config: protected settings (opaque base64) encrypted to this certificate thumbprint */
  certificateThumbprint?: string;
  /** multi-config extensions */
  extensions?: Array<{ name: string; seqNo: number; state?: 'enabled' | 'disabled' }>;
  /** The package's encodedSignature (base64 DER PKCS#7) */
  encodedSignature?: string;
}

export interface ExtensionsConfigSpec {
  incarnation: number;
  plugins: PluginSpec[];
  statusBlob: string;
  requiredFeatures?: string[];
}

/** An ExtensionsConfig document (§5.1) in the layout of the recorded fixtures. */
export function extensionsConfig(o: ExtensionsConfigSpec): string {
  const settingsJson = (p: Record<string, unknown> | undefined, thumbprint?: string) =>
    esc(
      JSON.stringify({
        runtimeSettings: [
          {
            handlerSettings: {
              publicSettings: p ?? {},
              ...(thumbprint ? { protectedSettingsCertThumbprint: thumbprint, protectedSettings: 'MIIBsAYJKoZIhvcNAQcDoIIBoTCCAZ0=' } : {}),
            },
          },
        ],
      }),
    );
  const plugins = o.plugins
    .map(
      (p) =>
        `<Plugin name="${p.name}" version="${p.version}" location="${esc(p.manifestUrl)}" state="${p.state}" autoUpgrade="false" runAsStartupTask="false" isJson="true" useExactVersion="true"${p.encodedSignature ? ` encodedSignature="${p.encodedSignature}"` : ''}/>`,
    )
    .join('\n    ');
  const settings = o.plugins
    .map((p) => {
      let inner = '';
      if (p.extensions) {
        inner = p.extensions
          .map(
            (e) =>
              `<ExtensionRuntimeSettings seqNo="${e.seqNo}" name="${e.name}" state="${e.state ?? 'enabled'}">${settingsJson({ ext: e.name, seq: e.seqNo })}</ExtensionRuntimeSettings>`,
          )
          .join('');
      } else if (p.seqNo !== undefined) {
        inner = `<RuntimeSettings seqNo="${p.seqNo}">${settingsJson(p.publicSettings, p.certificateThumbprint)}</RuntimeSettings>`;
      }
      return `<Plugin name="${p.name}" version="${p.version}">${inner}</Plugin>`;
    })
    .join('\n    ');
  const features = o.requiredFeatures?.length
    ? `<RequiredFeatures>${o.requiredFeatures.map((f) => `<RequiredFeature><Name>${f}</Name><Value>1.0</Value></RequiredFeature>`).join('')}</RequiredFeatures>`
    : '';
  return `<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="${o.incarnation}">
  ${features}
  <StatusUploadBlob statusBlobType="BlockBlob">${esc(o.statusBlob)}</StatusUploadBlob>
  <Plugins>
    ${plugins}
  </Plugins>
  <PluginSettings>
    ${settings}
  </PluginSettings>
  <InVMGoalStateMetaData inSvdSeqNo="${o.incarnation}" createdOnTicks="${637726657706205217n + BigInt(o.incarnation)}" activityId="a" correlationId="c"/>
</Extensions>`;
}

/** The status blob's handler entries. */
// biome-ignore lint/suspicious/noExplicitAny: shared by the e2e tests for both documents and entries; typing it (see status-json.ts) changes ~40 lines of extensions-binary.test.ts
export type Json = any;
export const handlerEntries = (blob: Json): Json[] => blob.aggregateStatus.handlerAggregateStatus;
export const goalStateStatus = (blob: Json): Json => blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus;

/**
 * §6.1 shape of one uploaded document: field names and order, types, timestamps, the version strings/numbers.
 * Returns the parsed document.
 */
export function checkStatusDocument(text: string): Json {
  const doc = JSON.parse(text);
  const ts = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
  assert.deepEqual(
    Object.keys(doc),
    ['version', 'timestampUTC', 'aggregateStatus', 'guestOSInfo', 'supportedFeatures'].filter((k) => k in doc),
  );
  assert.equal(doc.version, '1.1');
  assert.match(doc.timestampUTC, ts);
  assert.deepEqual(Object.keys(doc.guestOSInfo), ['computerName', 'osName', 'osVersion', 'version']);
  const ga = doc.aggregateStatus.guestAgentStatus;
  assert.deepEqual([ga.status, ga.formattedMessage], ['Ready', { lang: 'en-US', message: 'Guest Agent is running' }]);
  for (const h of handlerEntries(doc)) {
    const keys = ['handlerVersion', 'handlerName', 'status', 'code', 'useExactVersion', 'formattedMessage', 'runtimeSettingsStatus'];
    assert.deepEqual(
      Object.keys(h),
      keys.filter((k) => k in h),
      `handler entry field order: ${JSON.stringify(h)}`,
    );
    assert.equal(typeof h.code, 'number');
    assert.equal(h.useExactVersion, true);
    if (h.formattedMessage) assert.equal(h.formattedMessage.lang, 'en-US');
    const rs = h.runtimeSettingsStatus;
    if (rs) {
      assert.deepEqual(
        Object.keys(rs),
        ['settingsStatus', 'sequenceNumber', 'extensionName'].filter((k) => k in rs),
      );
      assert.equal(typeof rs.sequenceNumber, 'number');
      assert.deepEqual(Object.keys(rs.settingsStatus), ['status', 'version', 'timestampUTC']);
      assert.equal(rs.settingsStatus.version, 1.0);
      assert.match(rs.settingsStatus.timestampUTC, ts);
      const s = rs.settingsStatus.status;
      assert.deepEqual(
        Object.keys(s),
        ['name', 'configurationAppliedTime', 'operation', 'status', 'code', 'formattedMessage', 'substatus'].filter((k) => k in s),
      );
      assert.ok(['transitioning', 'warning', 'error', 'success'].includes(s.status), `settings status ${s.status}`);
    }
  }
  const gs = goalStateStatus(doc);
  if (gs) {
    assert.deepEqual(Object.keys(gs), ['formattedMessage', 'timestampUTC', 'inSvdSeqNo', 'status', 'code']);
    assert.equal(typeof gs.inSvdSeqNo, 'string');
    assert.match(gs.timestampUTC, ts);
  }
  return doc;
}

export interface RunResult extends ExecResult {
  /** ops.log lines written during this run */
  ops: string[];
  /** the documents uploaded during this run, parsed and checked against §6.1 */
  uploads: Json[];
  /** the last of them */
  status: Json;
}

/** One sandbox + emulator for a describe block; the agent runs as the built binary. */
export class ExtensionsHarness {
  readonly sb: Sandbox;
  readonly emu: EmulatorHandle;
  #served = 0;
  #opsSeen = 0;
  #uploadsSeen = 0;

  private constructor(sb: Sandbox, emu: EmulatorHandle) {
    this.sb = sb;
    this.emu = emu;
  }

  static async start(config: Record<string, string> = {}, emulatorArgs: string[] = []): Promise<ExtensionsHarness> {
    const sb = await createSandbox();
    try {
      const emu = await sb.startEmulator(emulatorArgs);
      const x = new ExtensionsHarness(sb, emu);
      x.configure(config);
      return x;
    } catch (e) {
      await sb.close();
      throw e;
    }
  }

  /** (Re)writes /etc/waagent.conf: no cgroups, no Fast Track, a 1 s goal-state period, scaled retry waits, then `extra`. */
  configure(extra: Record<string, string> = {}): void {
    this.sb.writeConfig({
      'CGroups.Enabled': 'n',
      'Debug.EnableFastTrack': 'n',
      'Extensions.GoalStatePeriod': '1',
      ...FAST_RETRIES,
      ...extra,
    });
  }

  /** A blob URL on the emulator's blob service. */
  blob(path: string): string {
    return `http://${this.emu.blob}${path}`;
  }

  async register(artifacts: Record<string, Buffer | string>): Promise<void> {
    await this.emu.control.registerArtifacts(artifacts);
  }

  /** Serves `docs` (name → text, or name → existing file) from now on, under a new incarnation. */
  async serve(docs: Record<string, string>, incarnation?: number): Promise<void> {
    const files: Record<string, string> = {};
    for (const [name, doc] of Object.entries(docs)) {
      if (doc.startsWith('/')) files[name] = doc;
      else {
        const file = join(this.sb.dir, `served-${++this.#served}-${name}`);
        writeFileSync(file, doc);
        files[name] = file;
      }
    }
    await this.emu.control.goalState({ docs: files, ...(incarnation !== undefined ? { incarnation } : { bumpIncarnation: true }) });
  }

  /** ops.log lines so far. */
  opsLog(): string[] {
    return (this.read(OPS_LOG) ?? '').split('\n').filter(Boolean);
  }

  /** Status documents uploaded since the last call (each checked against §6.1). */
  async newUploads(): Promise<Json[]> {
    const all: StatusUpload[] = await this.emu.statusUploads();
    const fresh = all.slice(this.#uploadsSeen);
    this.#uploadsSeen = all.length;
    return fresh.map((u) => checkStatusDocument(u.content));
  }

  /** One `waagent -run-exthandlers -once`; returns its output, the commands run and the status uploaded. */
  async once(timeoutMs = 30_000): Promise<RunResult> {
    const r = await this.sb.exec([WAAGENT, '-run-exthandlers', '-once'], { timeoutMs });
    const ops = this.opsLog();
    const fresh = ops.slice(this.#opsSeen);
    this.#opsSeen = ops.length;
    const uploads = await this.newUploads();
    assert.ok(uploads.length > 0, `a status blob was uploaded (exit ${r.code}; stderr: ${r.stderr.slice(-2000)})`);
    return { ...r, ops: fresh, uploads, status: uploads[uploads.length - 1] };
  }

  /** Marks the current ops.log as seen (after a run whose commands were checked another way). */
  skipOps(): void {
    this.#opsSeen = this.opsLog().length;
  }

  /** Runs `sh -c cmd` inside; asserts exit 0; returns stdout trimmed. */
  async sh(cmd: string): Promise<string> {
    const r = await this.sb.exec(['sh', '-c', cmd]);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Whether a path exists inside (read through /proc/<pid>/root: fine for paths without symlinks). */
  exists(path: string): boolean {
    return existsSync(join(this.sb.root, path));
  }

  /** A file's text inside, or null when missing. */
  read(path: string): string | null {
    try {
      return readFileSync(join(this.sb.root, path), 'utf8');
    } catch {
      return null;
    }
  }

  close(): Promise<void> {
    return this.sb.close();
  }
}
