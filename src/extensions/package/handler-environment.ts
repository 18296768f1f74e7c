// HandlerEnvironment.json (docs/protocol.md §5.5): where an extension finds its config, status, log and events
// folders. Written byte for byte as the Python agent's json.dumps writes it (key order, ", " / ": " separators,
// "version": 1.0), with no trailing newline; no Windows-only fields (deploymentid, rolename, instance,
// hostResolverAddress). Rewritten for every installed handler at ExtHandler start.
//
// API:
//   handlerEnvironmentJson(layout: HandlerLayout): string
//   writeHandlerEnvironment(layout: HandlerLayout): void     atomically, mode 0644
import { writeFileAtomic } from '../../os/atomic-file.ts';
import type { HandlerLayout } from './layout.ts';
import { PyFloat, pythonJsonDumps } from '../../util/python-json.ts';

/** HandlerEnvironment.json schema version, a float in the Python agent. */
const SCHEMA_VERSION = new PyFloat(1.0);

export function handlerEnvironmentJson(layout: HandlerLayout): string {
  return pythonJsonDumps([
    {
      name: layout.name,
      version: SCHEMA_VERSION,
      handlerEnvironment: {
        logFolder: layout.logFolder,
        configFolder: layout.configDir,
        statusFolder: layout.statusDir,
        heartbeatFile: layout.heartbeatFile,
        // The ExtensionTelemetryPipeline feature is supported, so the events folder is advertised, also under the
        // preview key that early adopters read.
        eventsFolder: layout.eventsFolder,
        eventsFolder_preview: layout.eventsFolder,
      },
    },
  ]);
}

export function writeHandlerEnvironment(layout: HandlerLayout): void {
  writeFileAtomic(layout.environmentFile, handlerEnvironmentJson(layout), { mode: 0o644 });
}
