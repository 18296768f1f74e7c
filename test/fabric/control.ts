// The control API (HTTP on a unix socket, reachable from outside the sandbox's network namespace):
//   GET  /requests[?service=S]   every recorded request          GET  /health-reports   health reports received
//   GET  /status-uploads         status blob uploads             GET  /ports            the bound ports
//   GET  /health-observations    HealthService reports (the heartbeats' observations)
//   GET  /faults                 active fault rules              POST /faults           {"rules":[...]} or [...] replaces them
//   POST /reset                  forget everything, back to the start-up scenario
//   POST /goal-state             {"scenario": DIR?, "docs": {NAME: FILE}?, "incarnation": N?, "bumpIncarnation": true?}
//                                (docs: replace single documents of the scenario, as --doc NAME=FILE does)
//   GET  /telemetry              telemetry batches received      POST /telemetry {"refuse": STATUS|null} refuses them (or not)
//   GET  /artifacts              registered artifacts            POST /artifacts {"artifacts": {URL: base64}} adds some
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listArtifacts, registerArtifactsFromJson } from './artifacts.ts';
import { validateRule } from './faults.ts';
import type { FabricState } from './state.ts';
import type { GoalStateChange } from './types.ts';

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const d of req) parts.push(d as Buffer);
  const text = Buffer.concat(parts).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('the request body is not JSON');
  }
}

function changeGoalState(state: FabricState, change: GoalStateChange): void {
  if (typeof change !== 'object' || change === null) throw new Error('the goal-state change must be a JSON object');
  if (change.scenario !== undefined && typeof change.scenario !== 'string') throw new Error('"scenario" must be a directory path');
  if (change.docs !== undefined) {
    const docs = change.docs as unknown;
    if (typeof docs !== 'object' || docs === null || Array.isArray(docs) || Object.values(docs).some((f) => typeof f !== 'string')) {
      throw new Error('"docs" must map document names to file paths');
    }
  }
  if (change.scenario !== undefined || change.docs !== undefined) {
    // a new scenario starts from its own documents; new docs alone replace documents of the current one
    const dir =
      change.scenario !== undefined
        ? change.scenario === 'default'
          ? undefined
          : change.scenario
        : state.scenario.name === 'default'
          ? undefined
          : state.scenario.name;
    const docs = change.scenario !== undefined ? { ...change.docs } : { ...state.scenario.overrides, ...change.docs };
    state.useScenario(dir, docs);
  }
  if (change.incarnation !== undefined) {
    if (!/^\d+$/.test(String(change.incarnation))) throw new Error('"incarnation" must be a non-negative integer');
    state.incarnationOverride = String(change.incarnation);
  }
  if (change.bumpIncarnation) state.incarnationOverride = String(Number(state.incarnation()) + 1);
}

export async function controlApi(state: FabricState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control');
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'GET /requests': {
        const service = url.searchParams.get('service');
        return json(res, 200, service ? state.requests.filter((r) => r.service === service) : state.requests);
      }
      case 'GET /health-reports':
        return json(res, 200, state.healthReports);
      case 'GET /health-observations':
        return json(res, 200, state.healthObservations);
      case 'GET /telemetry':
        return json(res, 200, state.telemetryBatches);
      case 'POST /telemetry': {
        const refuse = ((await readJson(req)) as { refuse?: unknown }).refuse ?? null;
        if (refuse !== null && (!Number.isInteger(refuse) || (refuse as number) < 400 || (refuse as number) > 599)) {
          throw new Error('"refuse" must be an HTTP error status (400-599) or null');
        }
        state.telemetryRefusal = refuse as number | null;
        return json(res, 200, { refuse: state.telemetryRefusal });
      }
      case 'GET /status-uploads':
        return json(res, 200, state.statusUploads);
      case 'GET /ports':
        return json(res, 200, state.ports);
      case 'GET /faults':
        return json(res, 200, state.faults.list());
      case 'POST /faults': {
        const body = await readJson(req);
        const rules = Array.isArray(body) ? body : (body as { rules?: unknown }).rules;
        if (!Array.isArray(rules)) throw new Error('POST /faults needs a list of rules, or {"rules": [...]}');
        state.faults.set(rules.map(validateRule));
        return json(res, 200, state.faults.list());
      }
      case 'POST /reset':
        state.reset();
        return json(res, 200, { ok: true });
      case 'POST /goal-state':
        changeGoalState(state, (await readJson(req)) as GoalStateChange);
        return json(res, 200, { scenario: state.scenario.name, incarnation: state.incarnation() });
      case 'GET /artifacts':
        return json(res, 200, listArtifacts(state));
      case 'POST /artifacts':
        return json(res, 200, registerArtifactsFromJson(state, await readJson(req)));
      default:
        return json(res, 404, { error: `no control resource ${route}` });
    }
  } catch (e) {
    return json(res, 400, { error: (e as Error).message });
  }
}
