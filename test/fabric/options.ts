// The emulator's command line.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { validateRule } from './faults.ts';
import { DOC_NAMES, type DocName } from './scenario.ts';
import { DEFAULT_ENDPOINTS, type Endpoint, type FabricOptions } from './server.ts';

export const USAGE = `usage: node test/fabric/emulator.ts [options]

Azure fabric emulator: WireServer, HostGAPlugin, IMDS and blob storage on loopback, serving recorded
platform documents, recording every request, injecting faults on demand.

Listening (HOST:PORT, or PORT for 127.0.0.1; port 0 = any free port):
  --wireserver ADDR        WireServer            (default 127.0.0.1:8080)
  --hostplugin ADDR        HostGAPlugin          (default 127.0.0.1:32526)
  --imds ADDR              IMDS                  (default 127.0.0.1:8081)
  --blob ADDR              blob storage          (default 127.0.0.1:8082)
  --allow-any-address      allow non-loopback addresses (refused otherwise)
  --port-file FILE         write the bound ports as JSON once everything listens

Documents:
  --scenario DIR           documents from DIR (goal_state.xml, ... or GoalState.xml, ...); default: the
                           recorded fixtures wire/*.xml and hostgaplugin/vm_settings.json
  --doc NAME=FILE          replace one document; NAME: ${DOC_NAMES.join(', ')}
  --rewrite-address H[:P]  rewrite 168.63.129.16 in served documents to H[:P] (P defaults to the
                           WireServer port; the :32526 form becomes H:<HostGAPlugin port>), and
                           the status blob URL to http://H:<blob port> (direct uploads land here)
  --generate-certs N       serve N generated self-signed tenant certificates instead of the scenario's
  --certs-verbatim         serve the scenario's Certificates document as recorded (no re-encryption)
  --no-vm-settings         HostGAPlugin answers 404 to /vmSettings (no Fast Track)
  --blob-dir DIR           files served by blob GET and /extensionArtifact (tests can also register
                           artifacts through the control API: POST /artifacts {"artifacts": {URL: base64}})

Observing and controlling:
  --control-socket PATH    control API over HTTP on a unix socket (GET /requests, POST /faults, ...)
  --record FILE            append every request to FILE as JSON lines
  --fault JSON             a fault rule, repeatable, e.g.
                           '{"service":"wireserver","path":"goalstate","kind":"status","status":503,"times":2}'
                           kinds: delay(ms) reset status(status,body) truncate malformed oversize(mib) slow(bytes,ms)
  --help                   this text
`;

export class UsageError extends Error {}

/** HOST:PORT, [V6]:PORT or PORT. */
export function parseEndpoint(value: string, flag: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${flag} needs HOST:PORT or PORT, not "${value}"`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export function parseCli(argv: string[]): FabricOptions | 'help' {
  let parsed: {
    values: {
      wireserver?: string;
      hostplugin?: string;
      imds?: string;
      blob?: string;
      'allow-any-address'?: boolean;
      'port-file'?: string;
      scenario?: string;
      doc?: string[];
      'rewrite-address'?: string;
      'generate-certs'?: string;
      'certs-verbatim'?: boolean;
      'no-vm-settings'?: boolean;
      'blob-dir'?: string;
      'control-socket'?: string;
      record?: string;
      fault?: string[];
      help?: boolean;
    };
  };
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        wireserver: { type: 'string' },
        hostplugin: { type: 'string' },
        imds: { type: 'string' },
        blob: { type: 'string' },
        'allow-any-address': { type: 'boolean' },
        'port-file': { type: 'string' },
        scenario: { type: 'string' },
        doc: { type: 'string', multiple: true },
        'rewrite-address': { type: 'string' },
        'generate-certs': { type: 'string' },
        'certs-verbatim': { type: 'boolean' },
        'no-vm-settings': { type: 'boolean' },
        'blob-dir': { type: 'string' },
        'control-socket': { type: 'string' },
        record: { type: 'string' },
        fault: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const opts: FabricOptions = {
    wireServer: v.wireserver ? parseEndpoint(v.wireserver, '--wireserver') : DEFAULT_ENDPOINTS.wireserver,
    hostPlugin: v.hostplugin ? parseEndpoint(v.hostplugin, '--hostplugin') : DEFAULT_ENDPOINTS.hostplugin,
    imds: v.imds ? parseEndpoint(v.imds, '--imds') : DEFAULT_ENDPOINTS.imds,
    blob: v.blob ? parseEndpoint(v.blob, '--blob') : DEFAULT_ENDPOINTS.blob,
    allowAnyAddress: v['allow-any-address'] ?? false,
    certsVerbatim: v['certs-verbatim'] ?? false,
    vmSettings: !v['no-vm-settings'],
  };
  if (v['port-file']) opts.portFile = resolve(v['port-file']);
  if (v.scenario) opts.scenario = resolve(v.scenario);
  if (v['blob-dir']) opts.blobDir = resolve(v['blob-dir']);
  if (v['control-socket']) opts.controlSocket = resolve(v['control-socket']);
  if (v.record) opts.record = resolve(v.record);
  if (v.doc) {
    const docs: Partial<Record<DocName, string>> = {};
    for (const d of v.doc) {
      const [name, file] = d.split(/=(.*)/s) as [string, string | undefined];
      if (!file || !DOC_NAMES.includes(name as DocName))
        throw new UsageError(`--doc needs NAME=FILE with NAME one of ${DOC_NAMES.join(', ')}, not "${d}"`);
      docs[name as DocName] = resolve(file);
    }
    opts.docs = docs;
  }
  if (v['rewrite-address']) {
    const value = v['rewrite-address'];
    if (/^[^:\s]+$/.test(value)) opts.rewrite = { host: value };
    else opts.rewrite = parseEndpoint(value, '--rewrite-address');
  }
  if (v['generate-certs'] !== undefined) {
    const n = Number(v['generate-certs']);
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw new UsageError(`--generate-certs needs a count from 1 to 100, not "${v['generate-certs']}"`);
    opts.generateCerts = n;
  }
  if (v.fault) {
    opts.faults = v.fault.map((f) => {
      let rule: unknown;
      try {
        rule = JSON.parse(f);
      } catch {
        throw new UsageError(`--fault needs a JSON object, not "${f}"`);
      }
      try {
        return validateRule(rule);
      } catch (e) {
        throw new UsageError(`--fault ${f}: ${(e as Error).message}`);
      }
    });
  }
  return opts;
}
