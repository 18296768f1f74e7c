// A client of the emulator's control API (control.ts), over its unix socket: what tests use to read what the
// agent sent and to inject faults, from outside the sandbox's network namespace.
import { request } from 'node:http';
import type {
  FaultRule,
  GoalStateChange,
  HealthObservationReport,
  HealthReport,
  RecordedRequest,
  Service,
  StatusUpload,
  TelemetryBatch,
} from './types.ts';

export class ControlClient {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? '' : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let value: unknown;
            try {
              value = JSON.parse(text);
            } catch {
              return reject(new Error(`the emulator control API answered ${method} ${path} with non-JSON: ${text.slice(0, 200)}`));
            }
            if (res.statusCode !== 200) {
              return reject(
                new Error(`the emulator control API refused ${method} ${path}: ${(value as { error?: string }).error ?? text}`),
              );
            }
            resolve(value as T);
          });
        },
      );
      req.on('error', (e) => reject(new Error(`cannot reach the emulator control socket ${this.socketPath}: ${e.message}`)));
      req.end(payload);
    });
  }

  requests(service?: Service): Promise<RecordedRequest[]> {
    return this.call('GET', service ? `/requests?service=${service}` : '/requests');
  }

  healthReports(): Promise<HealthReport[]> {
    return this.call('GET', '/health-reports');
  }

  healthObservations(): Promise<HealthObservationReport[]> {
    return this.call('GET', '/health-observations');
  }

  telemetryBatches(): Promise<TelemetryBatch[]> {
    return this.call('GET', '/telemetry');
  }

  /** Makes the WireServer answer telemetrydata POSTs with this status (null: accept them again). */
  async refuseTelemetry(status: number | null): Promise<void> {
    await this.call('POST', '/telemetry', { refuse: status });
  }

  statusUploads(): Promise<StatusUpload[]> {
    return this.call('GET', '/status-uploads');
  }

  async setFaults(rules: FaultRule[]): Promise<void> {
    await this.call('POST', '/faults', { rules });
  }

  /** Registers artifacts (manifests, zips) by URL or path, served by blob GET and /extensionArtifact. */
  async registerArtifacts(artifacts: Record<string, Buffer | string>): Promise<void> {
    const body: Record<string, string> = {};
    for (const [k, v] of Object.entries(artifacts)) body[k] = (Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')).toString('base64');
    await this.call('POST', '/artifacts', { artifacts: body });
  }

  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  goalState(change: GoalStateChange): Promise<{ scenario: string; incarnation: string }> {
    return this.call('POST', '/goal-state', change);
  }
}
