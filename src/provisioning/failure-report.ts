// What a provisioning failure tells the world: one error (its kind, its one-sentence reason, its context) rendered
// for the log line, the health report's description (docs/protocol.md §3.1) and the KVP PROVISIONING_REPORT's
// reason and supporting data (docs/peers.md §7; azure-init's reason() / supporting_data()). Everything that leaves
// here is redacted: the sentence and every context value, and a value whose key names a secret is not shown at all.
import { toAgentError } from '../util/errors.ts';
import { redact, redactField } from '../log/redact.ts';

export interface FailureReport {
  /** the one sentence, redacted */
  readonly reason: string;
  /** `kind`, `subkind` when there is one, then the context in its order; empty values are left out */
  readonly supportingData: ReadonlyArray<readonly [string, string]>;
}

export function failureReport(e: unknown): FailureReport {
  const err = toAgentError(e);
  const data: Array<[string, string]> = [['kind', err.kind]];
  if (err.subkind !== undefined) data.push(['subkind', err.subkind]);
  for (const [key, value] of Object.entries(err.context)) {
    if (value === undefined || value === null || value === '' || data.some(([k]) => k === key)) continue;
    data.push([key, redactField(key, String(value))]);
  }
  return { reason: redact(err.message), supportingData: data };
}

/**
 * The sentence, then its data: `<reason> [kind=…; subkind=…; key=value; …]`. The health report's description and
 * the log line; the sentence comes first and unchanged, so a reader (or the portal) sees it as before.
 */
export function describeFailure(r: FailureReport): string {
  return `${r.reason} [${r.supportingData.map(([k, v]) => `${k}=${v}`).join('; ')}]`;
}
