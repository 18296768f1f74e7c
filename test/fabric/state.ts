// What the emulator knows and remembers: the current scenario and incarnation, the tenant certificate PFX, and
// every request, health report and status upload it received. The services read and update it; the control API
// exposes it.
import { appendFileSync } from 'node:fs';
import { rewriteStatusBlobUrl } from './blob.ts';
import { decryptRecordedPfx, generateTenantCerts, certificateData, type TenantCert } from './certificates.ts';
import { FaultSet } from './faults.ts';
import { incarnationOf, loadScenario, rewriteAddress, setIncarnation, type DocName, type Scenario } from './scenario.ts';
import type {
  EmulatorPorts,
  FaultRule,
  HealthObservationReport,
  HealthReport,
  RecordedRequest,
  StatusUpload,
  TelemetryBatch,
} from './types.ts';

export interface StateOptions {
  scenario?: string;
  docs?: Partial<Record<DocName, string>>;
  /** --rewrite-address HOST[:PORT] */
  rewrite?: { host: string; port: number };
  generateCerts?: number;
  /** serve the scenario's Certificates document as recorded instead of re-encrypting it */
  certsVerbatim?: boolean;
  vmSettings?: boolean;
  blobDir?: string;
  record?: string;
  faults?: FaultRule[];
}

export class FabricState {
  readonly options: StateOptions;
  scenario!: Scenario;
  /** incarnation set through the control API, replacing the goal state's own */
  incarnationOverride: string | null = null;
  /** the PFX the Certificates document carries, or null to serve the recorded document verbatim */
  pfx: Buffer | null = null;
  tenantCerts: TenantCert[] = [];
  ports: EmulatorPorts = { wireServer: 0, hostPlugin: 0, imds: 0, blob: 0 };
  readonly requests: RecordedRequest[] = [];
  readonly healthReports: HealthReport[] = [];
  readonly healthObservations: HealthObservationReport[] = [];
  readonly statusUploads: StatusUpload[] = [];
  readonly telemetryBatches: TelemetryBatch[] = [];
  /** the status telemetrydata POSTs get instead of 200 (the WireServer refusing them), or null */
  telemetryRefusal: number | null = null;
  /** blobs written by PUT (status blobs), by path */
  readonly blobs = new Map<string, Buffer>();
  /** artifacts registered by tests (artifacts.ts), by URL path */
  readonly artifacts = new Map<string, Buffer>();
  readonly faults = new FaultSet();

  constructor(options: StateOptions) {
    this.options = options;
    this.useScenario(options.scenario, options.docs);
    if (options.generateCerts !== undefined) {
      const g = generateTenantCerts(options.generateCerts);
      this.pfx = g.pfx;
      this.tenantCerts = g.certs;
    }
    this.faults.set(options.faults ?? []);
  }

  /** Switches to a scenario (undefined = default); throws when it cannot be loaded or its PFX recovered. */
  useScenario(dir: string | undefined, docs: Partial<Record<DocName, string>> = {}): void {
    const scenario = loadScenario(dir, docs);
    let pfx: Buffer | null = this.options.generateCerts !== undefined ? this.pfx : null;
    const certs = scenario.docs.certificates?.toString('utf8');
    if (pfx === null && certs !== undefined && !this.options.certsVerbatim && isPfxDocument(certs)) {
      if (!scenario.transport) {
        throw new Error(
          `scenario ${scenario.name} has a Certificates document but no transport key pair to decrypt it (use --certs-verbatim)`,
        );
      }
      try {
        pfx = decryptRecordedPfx(certs, scenario.transport);
      } catch (e) {
        throw new Error(
          `the Certificates document of scenario ${scenario.name} does not decrypt with its transport key (${(e as Error).message}); use --certs-verbatim`,
        );
      }
    }
    this.scenario = scenario;
    this.pfx = pfx;
    this.incarnationOverride = null;
  }

  /** The current incarnation: the override, else the goal state's own. */
  incarnation(): string {
    return this.incarnationOverride ?? incarnationOf(this.scenario.docs.goalState!.toString('utf8')) ?? '1';
  }

  /** A document as served now (incarnation and address rewriting applied), or null when the scenario lacks it. */
  doc(name: DocName): string | null {
    const raw = this.scenario.docs[name];
    if (raw === undefined) return null;
    let text = raw.toString('utf8');
    if (name === 'goalState' && this.incarnationOverride !== null) text = setIncarnation(text, this.incarnationOverride);
    const rw = this.options.rewrite;
    if (rw) text = rewriteAddress(text, rw.host, rw.port, this.ports.hostPlugin);
    if (rw) text = rewriteStatusBlobUrl(text, rw.host, this.ports.blob);
    return text;
  }

  record(r: RecordedRequest): void {
    this.requests.push(r);
    if (this.options.record) appendFileSync(this.options.record, JSON.stringify(r) + '\n');
  }

  /** Back to the start-up state: no requests, reports, uploads or faults; the start-up scenario. */
  reset(): void {
    this.requests.length = 0;
    this.healthReports.length = 0;
    this.healthObservations.length = 0;
    this.statusUploads.length = 0;
    this.telemetryBatches.length = 0;
    this.telemetryRefusal = null;
    this.blobs.clear();
    this.artifacts.clear();
    this.useScenario(this.options.scenario, this.options.docs);
    this.faults.set(this.options.faults ?? []);
  }
}

/** True when a Certificates document carries a PFX the emulator can re-encrypt (§2.8: Data + Pkcs7BlobWithPfxContents). */
function isPfxDocument(xml: string): boolean {
  const format = /<Format>\s*([^<\s]*)\s*<\/Format>/.exec(xml)?.[1];
  return certificateData(xml) !== null && format === 'Pkcs7BlobWithPfxContents';
}
