// The HostGAPlugin (docs/protocol.md §3.3, §3.4, §6.2): versions, health, vmSettings with ETag / 304 / 404,
// the status upload relay PUT /status, extensionArtifact and vmAgentLog.
import { createHash } from 'node:crypto';
import { artifact, putBlob } from './blob.ts';
import { badRequest, header, JSON_TYPE, notFound, reply, type Reply, type Request } from './http.ts';
import type { FabricState } from './state.ts';

export function hostPlugin(state: FabricState, req: Request): Reply {
  const path = req.url.pathname.replace(/\/+$/, '');
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'GET /versions':
      return reply(200, '["2015-09-01"]', JSON_TYPE);
    case 'GET /health':
      return reply(200);
    case 'GET /vmSettings':
      return vmSettings(state, req);
    case 'PUT /status':
      return status(state, req);
    case 'GET /extensionArtifact':
      return artifact(state, req);
    case 'PUT /vmAgentLog':
      return reply(200);
    default:
      return notFound(`no HostGAPlugin resource ${route}`);
  }
}

function vmSettings(state: FabricState, req: Request): Reply {
  const text = state.options.vmSettings === false ? null : state.doc('vmSettings');
  // what a HostGAPlugin without Fast Track answers (§3.4: "not supported")
  if (text === null) return reply(404, 'vmSettings not supported\n', 'text/plain');
  const etag = createHash('sha256').update(text).digest('hex').slice(0, 20);
  if (header(req, 'if-none-match') === etag) return reply(304, '', undefined, { ETag: etag });
  return reply(200, text, JSON_TYPE, { ETag: etag });
}

interface HgapStatusBody {
  content?: unknown;
  headers?: unknown;
  requestUri?: unknown;
}

/** §6.2: a JSON envelope {content: base64, headers: [{headerName, headerValue}], requestUri} relayed to storage. */
function status(state: FabricState, req: Request): Reply {
  let body: HgapStatusBody;
  try {
    body = JSON.parse(req.body.toString('utf8')) as HgapStatusBody;
  } catch {
    return badRequest('the status request body is not JSON');
  }
  if (typeof body.requestUri !== 'string') return badRequest('the status request has no requestUri');
  let uri: URL;
  try {
    uri = new URL(body.requestUri);
  } catch {
    return badRequest('the status requestUri is not a URL');
  }
  if (!Array.isArray(body.headers)) return badRequest('the status request has no headers list');
  const headers: Record<string, string> = {};
  for (const h of body.headers as { headerName?: unknown; headerValue?: unknown }[]) {
    if (typeof h?.headerName !== 'string') return badRequest('a status request header has no headerName');
    headers[h.headerName.toLowerCase()] = String(h.headerValue ?? '');
  }
  if (body.content !== undefined && typeof body.content !== 'string') return badRequest('the status content is not base64 text');
  const content = Buffer.from((body.content as string | undefined) ?? '', 'base64');
  const r = putBlob(state, 'hostplugin', { uri, headers, body: content });
  // The HostGAPlugin answers 200 when storage accepted the upload, and passes storage's failures on.
  return r.status === 201 ? reply(200) : r;
}
