// IMDS (docs/protocol.md §1.3): /metadata/instance and /metadata/instance/compute, only with `Metadata: true`.
import { header, JSON_TYPE, notFound, reply, type Reply, type Request } from './http.ts';
import type { FabricState } from './state.ts';

export function imds(state: FabricState, req: Request): Reply {
  if (req.method !== 'GET') return reply(405, `method ${req.method} not allowed\n`, 'text/plain');
  const path = req.url.pathname.replace(/\/+$/, '');
  if (path !== '/metadata/instance' && path !== '/metadata/instance/compute') return notFound(`no IMDS resource ${path}`);
  // The Python agent sends "True", cloud-init "true": IMDS takes the value case-insensitively.
  if (header(req, 'metadata')?.toLowerCase() !== 'true') {
    return reply(400, JSON.stringify({ error: 'Bad request. Required metadata header not specified' }), JSON_TYPE);
  }
  const text = state.doc('imds');
  if (text === null) return notFound('this scenario has no IMDS document');
  let doc: { compute?: unknown };
  try {
    doc = JSON.parse(text) as { compute?: unknown };
  } catch {
    return reply(500, 'the scenario IMDS document is not JSON\n', 'text/plain; charset=utf-8');
  }
  return reply(200, path.endsWith('/compute') ? JSON.stringify(doc.compute ?? {}) : text, JSON_TYPE);
}
