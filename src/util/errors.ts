// One error type for the whole agent: a named kind plus the context that explains it.
// The same object feeds the log line, the exit code, the health report and the KVP record.

export type ErrorKind =
  | 'usage' // bad command line
  | 'config' // bad or unreadable configuration
  | 'command' // an external command failed
  | 'http' // an HTTP request failed (status or transport)
  | 'resource-gone' // HTTP 410 / InvalidContainerConfiguration: refresh the goal state and retry once
  | 'protocol' // a platform document or exchange was not what the protocol requires
  | 'xml' // malformed XML
  | 'json' // malformed JSON
  | 'crypto' // certificate / key / CMS / PKCS#12 failure
  | 'io' // file system failure
  | 'provisioning'
  | 'extension'
  | 'not-implemented'
  | 'unexpected'; // a thrown value that is not an AgentError (a bug, or a Node error nobody wrapped)

/**
 * Sub-kinds that callers branch on. A caller that must tell one failure from another tests the subkind (isAgentError's
 * third argument), never the message text or a flag in the context. (Not `code`: Node's errors use that for errno.)
 */
export type ErrorSubkind =
  | 'pfx-integrity' // crypto: the PKCS#12 MAC did not verify (the content can still be read without it)
  | 'missing-role-instance' // protocol: a goal state without RoleInstance, re-requested (docs/protocol.md §2.4)
  | 'past-end' // provisioning media: the bytes asked for lie past the end of the medium
  | 'not-found' // provisioning media: the file is not in the root directory
  | 'disallowed'; // extension: blocked by the extension policy or its package signature; reported as upstream's disallowed extensions

export interface ErrorContext {
  [key: string]: string | number | boolean | null | undefined;
}

export class AgentError extends Error {
  readonly kind: ErrorKind;
  readonly context: ErrorContext;
  override readonly cause?: unknown;
  /** the sub-kind, for the few errors a caller handles differently */
  readonly subkind?: ErrorSubkind;

  constructor(kind: ErrorKind, message: string, context: ErrorContext = {}, cause?: unknown, subkind?: ErrorSubkind) {
    super(message);
    this.name = 'AgentError';
    this.kind = kind;
    this.context = context;
    this.cause = cause;
    if (subkind !== undefined) this.subkind = subkind;
  }

  /** Exit code of docs/contract.md §3: 2 for bad command line or configuration, 1 for everything else. */
  get exitCode(): number {
    return this.kind === 'usage' || this.kind === 'config' ? 2 : 1;
  }
}

export function isAgentError(e: unknown, kind?: ErrorKind, subkind?: ErrorSubkind): e is AgentError {
  return e instanceof AgentError && (kind === undefined || e.kind === kind) && (subkind === undefined || e.subkind === subkind);
}

/** A one-sentence description of any thrown value, for logs and reports. */
export function describeError(e: unknown): string {
  if (e instanceof AgentError) return e.message;
  if (e instanceof Error) {
    // Node's system errors (those with a syscall) name their errno code in the message already; the others do not.
    const { code, syscall } = e as NodeJS.ErrnoException;
    return code && syscall === undefined ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}

/**
 * Any thrown value as an AgentError, for the reports: an AgentError as it is; anything else as kind 'unexpected' with
 * its one-sentence description (and a Node error's errno code and syscall as context).
 */
export function toAgentError(e: unknown): AgentError {
  if (e instanceof AgentError) return e;
  const context: ErrorContext = {};
  if (e instanceof Error) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (code !== undefined) context.errno = code;
    if (syscall !== undefined) context.syscall = syscall;
  }
  return new AgentError('unexpected', describeError(e), context, e);
}
