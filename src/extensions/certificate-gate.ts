// A goal state whose Certificates document could not be retrieved (issue 11 finding 9) still runs: only the
// handlers whose protected settings are encrypted to a certificate the agent does not have are held back, each
// reported invalid with the reason, so CRP is told why instead of waiting; the others run as usual.
import type { ExtensionHandler } from '../fabric/documents/index.ts';
import { missingCertificates } from './fast-track-certs.ts';
import type { ExtensionsGoalState } from './lifecycle/source.ts';

/** `gs` with every handler that needs a missing certificate made invalid, saying why the certificates are missing. */
export function holdBackForCertificates(gs: ExtensionsGoalState, libDir: string, certificatesError: string): ExtensionsGoalState {
  let held = 0;
  const handlers = gs.handlers.map((h): ExtensionHandler => {
    if (h.invalidReason !== null) return h;
    const missing = missingCertificates([h], libDir);
    if (missing.length === 0) return h;
    held++;
    return {
      ...h,
      invalidReason: `the certificate ${missing.join(', ')} its protected settings are encrypted to is not available (${certificatesError})`,
    };
  });
  return held === 0 ? gs : { ...gs, handlers };
}
