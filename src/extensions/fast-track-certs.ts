// Fast Track and certificates (docs/protocol.md §10 item 14): a vmSettings goal state can name, for protected
// settings, a tenant certificate the agent has not downloaded yet (the WireServer's incarnation did not move).
// The thumbprints it names are checked against <Lib.Dir>/<THUMBPRINT>.crt; any missing one forces a full
// goal-state refresh, which downloads the certificates again.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExtensionHandler } from '../fabric/documents/index.ts';

/** The certificate thumbprints the handlers' settings name that have no .crt in libDir (upper case, no duplicates). */
export function missingCertificates(handlers: readonly ExtensionHandler[], libDir: string): string[] {
  const missing = new Set<string>();
  for (const h of handlers) {
    for (const s of h.settings) {
      const tp = s.certificateThumbprint?.trim().toUpperCase();
      if (tp && /^[0-9A-F]{40}$/.test(tp) && !existsSync(join(libDir, `${tp}.crt`))) missing.add(tp);
    }
  }
  return [...missing];
}
