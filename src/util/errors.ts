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
  | 'not-implemented';

export interface ErrorContext {
  [key: string]: string | number | boolean | null | undefined;
}

export class AgentError extends Error {
  readonly kind: ErrorKind;
  readonly context: ErrorContext;
  override readonly cause?: unknown;

  constructor(kind: ErrorKind, message: string, context: ErrorContext = {}, cause?: unknown) {
    super(message);
    this.name = 'AgentError';
    this.kind = kind;
    this.context = context;
    this.cause = cause;
  }

  /** Exit code of docs/contract.md §3: 2 for bad command line or configuration, 1 for everything else. */
  get exitCode(): number {
    return this.kind === 'usage' || this.kind === 'config' ? 2 : 1;
  }
}

export function isAgentError(e: unknown, kind?: ErrorKind): e is AgentError {
  return e instanceof AgentError && (kind === undefined || e.kind === kind);
}

/** A one-sentence description of any thrown value, for logs and reports. */
export function describeError(e: unknown): string {
  if (e instanceof AgentError) return e.message;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
