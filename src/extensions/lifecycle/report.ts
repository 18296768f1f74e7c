// The handler part of the status blob, collected every cycle (docs/protocol.md §5.7, §5.11, §6.1): for each
// reported handler its HandlerStatus file, its heartbeat when the manifest asks for one (Unresponsive when stale),
// and its extensions' status files.
import { AgentError, describeError } from '../../util/errors.ts';
import { UnsafeFileError } from '../../os/safe-read.ts';
import { handlerNameProblem } from '../../fabric/documents/index.ts';
import { log } from '../../log/logger.ts';
import type { ExtensionStatus, HandlerStatus } from '../../status/types.ts';
import { readHeartbeat } from '../heartbeat.ts';
import {
  handlerLayout,
  readExtensionState,
  readHandlerManifest,
  readHandlerState,
  readHandlerStatus,
  type LayoutRoots,
} from '../package/index.ts';
import { readExtensionStatus, seqNoFromSettingsFiles } from '../status-file.ts';
import { CODE } from './codes.ts';
import type { ReportedHandler } from './process.ts';

export interface CollectOptions {
  roots: LayoutRoots;
  /** Extensions.Enabled: when off, extension statuses are reported even for handlers never installed. */
  extensionsEnabled: boolean;
  now?: () => number;
  /** Status-file read attempts (§5.11: 5, 2 s apart). */
  readAttempts?: number;
}

export async function collectHandlerStatuses(handlers: readonly ReportedHandler[], o: CollectOptions): Promise<HandlerStatus[]> {
  const out: HandlerStatus[] = [];
  for (const h of handlers) {
    try {
      const s = await collectOne(h, o);
      if (s) out.push(s);
    } catch (e) {
      log.warn(`cannot collect the status of ${h.name} ${h.version}: ${describeError(e)}`);
    }
  }
  return out;
}

async function collectOne(h: ReportedHandler, o: CollectOptions): Promise<HandlerStatus | null> {
  // A name that cannot be a path has no files to read: its status is made here, from the reason alone.
  const unsafe = handlerNameProblem(h.name, h.version);
  if (unsafe !== null) {
    const message = `Ran into config errors: ${unsafe}. \nPlease retry again as another operation with updated settings`;
    return {
      name: h.name,
      version: h.version,
      status: 'NotReady',
      code: CODE.unknown,
      message,
      isMultiConfig: h.isMultiConfig,
      extensions: [],
    };
  }
  if (h.unsaved) return { name: h.name, version: h.version, ...h.unsaved, isMultiConfig: h.isMultiConfig, extensions: [] };
  const l = handlerLayout(o.roots, h.name, h.version);
  let rec: ReturnType<typeof readHandlerStatus>;
  let state: ReturnType<typeof readHandlerState>;
  try {
    rec = readHandlerStatus(l);
    state = readHandlerState(l);
  } catch (e) {
    // HandlerStatus or HandlerState replaced by a link, a FIFO, a file of another owner (issue 11): the handler
    // says so, and nothing more of it is read.
    log.verbose(`${h.name} ${h.version}: ${describeError(e)}`);
    return {
      name: h.name,
      version: h.version,
      status: 'NotReady',
      code: -1,
      message: describeError(e),
      isMultiConfig: h.isMultiConfig,
      extensions: [],
    };
  }
  if (!rec) {
    // An uninstalled handler disappears from the blob: that is how CRP sees the uninstall completed (§5.9).
    if (h.state !== 'uninstall') log.verbose(`No handler status found for ${h.name}. Not reporting anything for it.`);
    return null;
  }
  let status = rec.status;
  let code = rec.code;
  let message: string | null = rec.message;
  const extensions: ExtensionStatus[] = [];
  // A disallowed extension's statuses are reported even when it was never installed: CRP waits for them (upstream).
  const disallowed = h.disallowed === true;
  if (state !== 'NotInstalled' || h.isMultiConfig || !o.extensionsEnabled || disallowed) {
    if (state !== 'NotInstalled') {
      try {
        if (readHandlerManifest(l.manifestFile).reportHeartbeat) {
          const hb = readHeartbeat(l.baseDir, (o.now ?? Date.now)());
          if (disallowed) {
            // The agent's NotReady and code stand; the heartbeat of the earlier run is only told.
            if (hb.message !== null) {
              message =
                message === null
                  ? `Extension was not executed, but it was previously enabled and reported the following heartbeat:\n${hb.message}`
                  : `${message} Extension was previously enabled and reported the following heartbeat:\n${hb.message}`;
            }
          } else {
            status = hb.status;
            if (hb.status === 'Unresponsive') code = -1;
            if (hb.message !== null) message = hb.message;
          }
        }
      } catch (e) {
        message = describeError(e);
        // A heartbeat replaced by a link or a FIFO (not merely missing) is not a healthy handler.
        const cause = e instanceof AgentError ? e.cause : undefined;
        if (cause instanceof UnsafeFileError && cause.reason !== 'missing' && cause.reason !== 'unreadable') {
          status = 'NotReady';
          code = -1;
        }
      }
    }
    const wanted: Array<{ name: string | null; seqNo: number | null }> = h.extensions.length
      ? h.extensions.map((e) => ({ name: h.isMultiConfig ? e.name : null, seqNo: e.seqNo }))
      : [{ name: null, seqNo: null }];
    for (const e of wanted) {
      // A multi-config extension disabled on request and on disk is not reported.
      const requested = h.extensions.find((x) => x.name === e.name);
      if (e.name !== null && requested?.state === 'disabled' && readExtensionState(l, e.name) === 'disabled') continue;
      const seqNo = e.seqNo ?? seqNoFromSettingsFiles(l.baseDir, e.name);
      if (seqNo === null) continue;
      extensions.push(
        await readExtensionStatus({
          baseDir: l.baseDir,
          handlerName: h.name,
          extensionName: e.name,
          seqNo,
          ...(o.readAttempts !== undefined ? { attempts: o.readAttempts } : {}),
        }),
      );
    }
  }
  return { name: h.name, version: h.version, status, code, message, isMultiConfig: h.isMultiConfig, extensions };
}
