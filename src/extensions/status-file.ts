// Reading an extension's status file (docs/protocol.md §5.11): `<base>/status/<seq>.status` (multi-config:
// `<base>/status/<ext>.<seq>.status`). A missing, unreadable, non-JSON or malformed file never throws: it becomes
// the status the agent reports in its place, with the codes and messages of §5.11 (§10 items 18, 19).
//
// API:
//   readExtensionStatus(opts: ReadStatusOptions): Promise<ExtensionStatus>
//   parseExtensionStatus(text: string, ctx: StatusContext): ExtensionStatus      (pure; text already read)
//   statusFilePath(baseDir, seqNo, extensionName?): string
//   seqNoFromSettingsFiles(baseDir, extensionName?): number | null               (most recently modified *.settings)
//   missingStatus(ctx, why): ExtensionStatus
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { readFileNoFollow, UnsafeFileError } from '../os/safe-read.ts';
import { EXTENSION_STATUS_VALUES, type ExtensionStatus, type ExtensionStatusValue, type SubStatus } from '../status/types.ts';

/** §5.11 limits. */
export const MAX_STATUS_FILE_BYTES = 128 * 1024;
export const MAX_STATUS_MESSAGE_CHARS = 1024;
export const MAX_SUBSTATUS_FIELD_CHARS = 10 * 1024;
export const TRUNCATED_SUFFIX = ' ... [TRUNCATED]';
/** Beyond this a file is not even read (the agent's own safety cap; §5.11 has none). */
export const MAX_READ_BYTES = 16 * 1024 * 1024;
export const READ_ATTEMPTS = 5;
export const READ_RETRY_DELAY_MS = 2_000;

/** Extension error codes used here (the Python agent's ExtensionErrorCodes). */
export const CODE_SUCCESS = 0;
export const CODE_UNKNOWN_FAILURE = -1;
export const CODE_STATUS_INVALID = 1012;

export interface StatusContext {
  /** Publisher.Type */
  handlerName: string;
  /** Multi-config extension name; null/undefined for single-config handlers. */
  extensionName?: string | null;
  seqNo: number;
  /** The file, for messages. */
  path: string;
}

export interface ReadStatusOptions {
  /** The handler's base dir, `<lib>/<Name>-<ver>`. */
  baseDir: string;
  handlerName: string;
  extensionName?: string | null;
  seqNo: number;
  attempts?: number;
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function statusFilePath(baseDir: string, seqNo: number, extensionName?: string | null): string {
  return join(baseDir, 'status', extensionName ? `${extensionName}.${seqNo}.status` : `${seqNo}.status`);
}

/** `<Handler>` or `<Handler>.<ext>`, as messages name an extension. */
function fullName(ctx: StatusContext): string {
  return ctx.extensionName ? `${ctx.handlerName}.${ctx.extensionName}` : ctx.handlerName;
}

function base(ctx: StatusContext): Omit<ExtensionStatus, 'status' | 'code' | 'message'> {
  return {
    name: ctx.extensionName || ctx.handlerName,
    sequenceNumber: ctx.seqNo,
    configurationAppliedTime: null,
    operation: null,
    substatus: [],
  };
}

/** §5.11 / §10 item 19: no status file yet is "transitioning", code 0, not an error. */
export function missingStatus(ctx: StatusContext, why = `Status file ${ctx.path} does not exist`): ExtensionStatus {
  return {
    ...base(ctx),
    status: 'transitioning',
    code: CODE_SUCCESS,
    message: `This status is being reported by the Guest Agent since no status file was reported by extension ${fullName(ctx)}: ${why}`,
  };
}

function unreadableStatus(ctx: StatusContext, why: string): ExtensionStatus {
  return {
    ...base(ctx),
    status: 'error',
    code: CODE_UNKNOWN_FAILURE,
    message: `We couldn't read any status for ${fullName(ctx)} extension, for the sequence number ${ctx.seqNo}. It failed due to ${why}`,
  };
}

function invalidJsonStatus(ctx: StatusContext, why: string, bytes: number): ExtensionStatus {
  return {
    ...base(ctx),
    status: 'error',
    code: CODE_STATUS_INVALID,
    message:
      `The status reported by the extension ${fullName(ctx)}(Sequence number ${ctx.seqNo}), was in an incorrect format and the agent ` +
      `could not parse it correctly. Failed due to ${why} (the status file has ${bytes} bytes; unlike the Python agent, ` +
      `none of them are sent: a status file can be a link to any file on the VM)`,
  };
}

function malformedStatus(ctx: StatusContext, why: string): ExtensionStatus {
  return {
    ...base(ctx),
    status: 'error',
    code: CODE_STATUS_INVALID,
    message: `Could not get a valid status from the extension ${fullName(ctx)}. Encountered the following error: ${why}`,
  };
}

/** A malformed-status finding (one sentence). */
class Malformed extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `code` as written (numbers and numeric-looking strings both occur, e.g. the fixtures' "0"); 0 otherwise. */
function code(v: unknown): number | string {
  return typeof v === 'number' || typeof v === 'string' ? v : CODE_SUCCESS;
}

/** formattedMessage: absent or null → null; otherwise it needs `lang` and `message` (§5.11). */
function formattedMessage(v: unknown, key: string): string | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new Malformed(`Invalid status format by extension: ${key} is not an object`);
  for (const k of ['lang', 'message']) if (!(k in v)) throw new Malformed(`Invalid status format by extension: Missing ${key}/${k} key`);
  return text(v.message);
}

function parseSubStatus(v: Record<string, unknown>): SubStatus {
  if (!('status' in v)) throw new Malformed('Invalid status format by extension: Missing substatus/status key');
  const status = v.status;
  if (typeof status !== 'string' || !(EXTENSION_STATUS_VALUES as readonly string[]).includes(status)) {
    throw new Malformed(
      `Invalid status format by extension: substatus/status ${JSON.stringify(status)} is not one of ${EXTENSION_STATUS_VALUES.join(', ')}`,
    );
  }
  return {
    name: text(v.name),
    status: status as ExtensionStatusValue,
    code: code(v.code),
    message: formattedMessage(v.formattedMessage, 'substatus/formattedMessage'),
  };
}

/** The checks of §5.11 on parsed JSON; throws Malformed. An empty array reports "transitioning" (nothing said yet). */
function fromJson(data: unknown, ctx: StatusContext): ExtensionStatus {
  if (!Array.isArray(data)) throw new Malformed(`The extension status must be an array: ${String(JSON.stringify(data)).slice(0, 4096)}`);
  if (data.length === 0) return { ...base(ctx), status: 'transitioning', code: CODE_SUCCESS, message: null };
  const first: unknown = data[0];
  if (!isObject(first) || !('status' in first)) throw new Malformed('Invalid status format by extension: Missing status key');
  const s = first.status;
  if (!isObject(s) || !('status' in s)) throw new Malformed('Invalid status format by extension: Missing status/status key');
  // an unknown status value is reported as 'error' rather than rejected (§5.11)
  const status = (EXTENSION_STATUS_VALUES as readonly unknown[]).includes(s.status) ? (s.status as ExtensionStatusValue) : 'error';
  const list: unknown = s.substatus ?? [];
  if (!Array.isArray(list)) throw new Malformed('Invalid status format by extension: substatus is not an array');
  const substatus = (list as unknown[])
    .filter((x) => x !== null)
    .map((x) => {
      if (!isObject(x)) throw new Malformed('Invalid status format by extension: a substatus is not an object');
      return parseSubStatus(x);
    });
  return {
    ...base(ctx),
    configurationAppliedTime: text(s.configurationAppliedTime),
    operation: text(s.operation),
    status,
    code: code(s.code),
    message: formattedMessage(s.formattedMessage, 'formattedMessage'),
    substatus,
  };
}

/** `field` cut to `max` characters plus the suffix (a field of exactly `max` is cut too, as upstream does). */
export function truncateField(field: string | null, max: number): string | null {
  if (field === null) return null;
  return field.length < max ? field : field.slice(0, max) + TRUNCATED_SUFFIX;
}

/** §5.11: an oversized status keeps its status and code; message and substatus fields are cut, substatuses dropped. */
function shrink(st: ExtensionStatus): ExtensionStatus {
  const message = truncateField(st.message, MAX_STATUS_MESSAGE_CHARS);
  let size = message?.length ?? 0;
  const substatus: SubStatus[] = [];
  for (const sub of st.substatus) {
    const name = truncateField(sub.name, MAX_SUBSTATUS_FIELD_CHARS);
    const msg = truncateField(sub.message, MAX_SUBSTATUS_FIELD_CHARS);
    size += (name?.length ?? 0) + (msg?.length ?? 0);
    if (size > MAX_STATUS_FILE_BYTES) break;
    substatus.push({ ...sub, name, message: msg });
  }
  return { ...st, message, substatus };
}

/** A status file's text → the status to report (never throws). `bytes` is the file size (defaults to the UTF-8 length). */
export function parseExtensionStatus(content: string, ctx: StatusContext, bytes = Buffer.byteLength(content)): ExtensionStatus {
  return parse(content, ctx, bytes).status;
}

function parse(content: string, ctx: StatusContext, bytes: number): { status: ExtensionStatus; invalidJson: boolean } {
  let data: unknown;
  try {
    data = JSON.parse(content.replace(/^\uFEFF/, ''));
  } catch {
    // not V8's message: it quotes the start of the text, which must not reach the platform
    return { status: invalidJsonStatus(ctx, 'the file is not valid JSON', bytes), invalidJson: true };
  }
  let st: ExtensionStatus;
  try {
    st = fromJson(data, ctx);
  } catch (e) {
    if (e instanceof Malformed) return { status: malformedStatus(ctx, e.message), invalidJson: false };
    throw e;
  }
  if (bytes > MAX_STATUS_FILE_BYTES) {
    log.verbose(
      `the status file ${ctx.path} of ${fullName(ctx)} is ${bytes} bytes, over the ${MAX_STATUS_FILE_BYTES}-byte limit: truncating it`,
    );
    st = shrink(st);
  }
  return { status: st, invalidJson: false };
}

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `refused`: the file is a link, a FIFO, too large, ...: reading it again would not help, so it is not retried. */
type Attempt = { kind: 'missing' } | { kind: 'unreadable'; why: string; refused: boolean } | { kind: 'text'; text: string; bytes: number };

function readOnce(path: string, within: string): Attempt {
  // The handler owns its status folder: never follow a link it planted (it could name /etc/shadow or the agent's
  // private key), never block on a FIFO, and read no more than the limit.
  try {
    const buf = readFileNoFollow(path, { maxBytes: MAX_READ_BYTES, within });
    return { kind: 'text', text: buf.toString('utf8'), bytes: buf.length };
  } catch (e) {
    if (e instanceof UnsafeFileError && e.reason === 'missing') return { kind: 'missing' };
    return { kind: 'unreadable', why: describeError(e), refused: e instanceof UnsafeFileError && e.reason !== 'unreadable' };
  }
}

/**
 * Reads and checks `<base>/status/[<ext>.]<seq>.status` (§5.11). Read errors and invalid JSON (the extension may be
 * in the middle of writing it) are retried up to 5 times, 2 s apart; a missing file is not waited for.
 */
export async function readExtensionStatus(opts: ReadStatusOptions): Promise<ExtensionStatus> {
  const path = statusFilePath(opts.baseDir, opts.seqNo, opts.extensionName);
  const ctx: StatusContext = { handlerName: opts.handlerName, extensionName: opts.extensionName ?? null, seqNo: opts.seqNo, path };
  const attempts = Math.max(1, opts.attempts ?? READ_ATTEMPTS);
  const sleep = opts.sleep ?? realSleep;
  let result: ExtensionStatus | null = null;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await sleep(opts.retryDelayMs ?? READ_RETRY_DELAY_MS);
    const a = readOnce(path, opts.baseDir);
    if (a.kind === 'missing') return missingStatus(ctx);
    if (a.kind === 'unreadable') {
      result = unreadableStatus(ctx, a.why);
      if (a.refused) return result;
      continue;
    }
    const parsed = parse(a.text, ctx, a.bytes);
    result = parsed.status;
    if (!parsed.invalidJson) return result;
  }
  return result!;
}

/**
 * The sequence number of the most recently *modified* settings file in `<base>/config` (§5.11, §10 item 16: not
 * the largest number), or null when there is none.
 */
export function seqNoFromSettingsFiles(baseDir: string, extensionName?: string | null): number | null {
  const dir = join(baseDir, 'config');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  const re = extensionName
    ? new RegExp(`^${extensionName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.settings$`)
    : /^(\d+)\.settings$/;
  let best: { seq: number; mtime: number } | null = null;
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    let mtime: number;
    try {
      // lstat: a link planted under a settings file's name is not followed (and does not count)
      const st = lstatSync(join(dir, name));
      if (!st.isFile()) continue;
      mtime = st.mtimeMs;
    } catch {
      continue;
    }
    const seq = Number(m[1]);
    if (!best || mtime > best.mtime || (mtime === best.mtime && seq > best.seq)) best = { seq, mtime };
  }
  return best?.seq ?? null;
}
