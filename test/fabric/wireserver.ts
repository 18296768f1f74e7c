// The WireServer (docs/protocol.md §2, §3.1): versions, goal state and the sub-documents it names, certificates
// and RemoteAccess passwords encrypted to the agent's transport certificate, health reports, telemetry and
// HealthService.
import { CertificateRequestError, certificateFile, encryptRemoteAccessPasswords, transportCertFromHeader } from './certificates.ts';
import { badRequest, header, notFound, reply, XML, type Reply, type Request } from './http.ts';
import type { DocName } from './scenario.ts';
import type { FabricState } from './state.ts';
import type { HealthObservationReport, HealthReport, TelemetryBatch } from './types.ts';

const CONFIG_TYPES: Record<string, DocName> = {
  hostingenvironmentconfig: 'hostingEnv',
  sharedconfig: 'sharedConfig',
  extensionsconfig: 'extensionsConfig',
};

function serveDoc(state: FabricState, name: DocName): Reply {
  const text = state.doc(name);
  return text === null
    ? notFound(`this scenario has no ${name} document`)
    : reply(200, text, name === 'vmSettings' ? 'application/json' : XML);
}

export async function wireServer(state: FabricState, req: Request): Promise<Reply> {
  const comp = req.url.searchParams.get('comp')?.toLowerCase();
  const path = req.url.pathname.replace(/\/+$/, '');
  if (req.method === 'GET') {
    if (comp === 'versions') return serveDoc(state, 'versions');
    if (comp === 'goalstate' && path === '/machine') return serveDoc(state, 'goalState');
    if (comp === 'config') {
      const name = CONFIG_TYPES[req.url.searchParams.get('type')?.toLowerCase() ?? ''];
      return name ? serveDoc(state, name) : notFound(`no such configuration type ${req.url.searchParams.get('type')}`);
    }
    if (comp === 'certificates') return certificates(state, req);
    if (/remoteaccessinfouri/i.test(path) || comp === 'remoteaccess') return remoteAccess(state, req);
    return notFound(`no WireServer resource ${req.path}`);
  }
  if (req.method === 'POST') {
    if (comp === 'health' && path === '/machine') {
      state.healthReports.push(parseHealth(req.body.toString('utf8')));
      return reply(200);
    }
    if (comp === 'telemetrydata' && path === '/machine') {
      const status = state.telemetryRefusal ?? 200;
      state.telemetryBatches.push(parseTelemetry(req.body.toString('utf8'), status));
      return status === 200 ? reply(200) : reply(status, `telemetry refused (${status})\n`, 'text/plain');
    }
    if (comp === 'roleproperties' && path === '/machine') return reply(202);
    if (path === '/HealthService') {
      const report = parseHealthService(req.body.toString('utf8'));
      state.healthObservations.push(report);
      return report.error === undefined ? reply(200) : badRequest(report.error);
    }
    return notFound(`no WireServer resource ${req.path}`);
  }
  return reply(405, `method ${req.method} not allowed\n`, 'text/plain');
}

/** §2.8: the PFX encrypted now for the transport certificate in the request; 400 without it, as the platform does. */
async function certificates(state: FabricState, req: Request): Promise<Reply> {
  const recorded = state.doc('certificates');
  if (recorded === null) return notFound('this scenario has no Certificates document');
  try {
    const transport = transportCertFromHeader(header(req, 'x-ms-guest-agent-public-x509-cert'));
    if (state.pfx === null) return reply(200, recorded, XML); // --certs-verbatim, or a non-PFX document
    return reply(200, await certificateFile(state.pfx, transport, header(req, 'x-ms-cipher-name'), state.incarnation()), XML);
  } catch (e) {
    if (e instanceof CertificateRequestError) return badRequest(e.message);
    throw e;
  }
}

/**
 * §2.9: the RemoteAccess document with each <Password> encrypted now for the transport certificate in the request,
 * as the platform does. The recorded text of a <Password> stands for the plaintext (the recorded documents hold
 * placeholders such as "encryptedPasswordString"). Without the certificate header the document is served as recorded.
 */
async function remoteAccess(state: FabricState, req: Request): Promise<Reply> {
  const recorded = state.doc('remoteAccess');
  if (recorded === null) return notFound('this scenario has no remoteAccess document');
  const cert = header(req, 'x-ms-guest-agent-public-x509-cert');
  if (!cert) return reply(200, recorded, XML);
  try {
    return reply(200, await encryptRemoteAccessPasswords(recorded, transportCertFromHeader(cert), header(req, 'x-ms-cipher-name')), XML);
  } catch (e) {
    if (e instanceof CertificateRequestError) return badRequest(e.message);
    throw e;
  }
}

function element(xml: string, tag: string): string | null {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  if (!m) return null;
  return m[1]!
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The fields of a health report (§3.1); the emulator records whatever it is sent, well-formed or not. */
export function parseHealth(body: string): HealthReport {
  return {
    time: new Date().toISOString(),
    incarnation: element(body, 'GoalStateIncarnation'),
    containerId: element(body, 'ContainerId'),
    instanceId: element(body, 'InstanceId'),
    state: element(body, 'State'),
    subStatus: element(body, 'SubStatus'),
    description: element(body, 'Description'),
    body,
  };
}

/** A HealthService report (upstream healthservice.py): {"Api", "Version", "Source", "Observations": [...]}. */
export function parseHealthService(body: string): HealthObservationReport {
  const time = new Date().toISOString();
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { time, api: null, source: null, observations: [], error: 'the HealthService report is not JSON', body };
  }
  const list = Array.isArray(doc.Observations) ? (doc.Observations as Array<Record<string, unknown>>) : null;
  if (
    doc.Api !== 'reporttargethealth' ||
    list === null ||
    list.some((o) => typeof o.ObservationName !== 'string' || typeof o.IsHealthy !== 'boolean')
  ) {
    return {
      time,
      api: null,
      source: null,
      observations: [],
      error: 'the HealthService report lacks Api=reporttargethealth or well-formed Observations',
      body,
    };
  }
  return {
    time,
    api: doc.Api,
    source: typeof doc.Source === 'string' ? doc.Source : null,
    observations: list.map((o) => ({
      name: o.ObservationName as string,
      isHealthy: o.IsHealthy as boolean,
      description: String(o.Description ?? ''),
      value: String(o.Value ?? ''),
    })),
    body,
  };
}

const TELEMETRY_ENVELOPE = /^<\?xml version="1\.0"\?><TelemetryData version="1\.0">([\s\S]*)<\/TelemetryData>$/;
const PROVIDER = /<Provider id="([^"]*)">([\s\S]*?)<\/Provider>/g;
const EVENT = /<Event id="([^"]*)"><!\[CDATA\[([\s\S]*?)\]\]><\/Event>/g;
const PARAM = /<Param Name="([^"]*)" Value=(?:"([^"]*)"|'([^']*)') T="([^"]*)" \/>/g;

function unescapeAttr(v: string): string {
  return v
    .replace(/&#10;/g, '\n')
    .replace(/&#13;/g, '\r')
    .replace(/&#9;/g, '\t')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** §2.11: the batch's providers, events and params, as the platform would read them. */
function parseTelemetry(body: string, status: number): TelemetryBatch {
  const batch: TelemetryBatch = { time: new Date().toISOString(), bytes: Buffer.byteLength(body), status, providers: [], body };
  const m = TELEMETRY_ENVELOPE.exec(body);
  if (!m) return { ...batch, error: 'not <?xml version="1.0"?><TelemetryData version="1.0">…</TelemetryData>' };
  for (const p of m[1]!.matchAll(PROVIDER)) {
    const events = [...p[2]!.matchAll(EVENT)].map((e) => ({
      id: e[1]!,
      params: [...e[2]!.matchAll(PARAM)].map((x) => ({ name: x[1]!, value: unescapeAttr(x[2] ?? x[3] ?? ''), type: x[4]! })),
    }));
    batch.providers.push({ id: p[1]!, events });
  }
  return batch;
}
