// <lib>/fast_track.json (docs/protocol.md §3.4, §7.3): {"timestamp": "<created-on of the last Fast Track goal
// state>"}, written when a vmSettings whose source is FastTrack arrives and deleted when one whose source is Fabric
// does. The timestamp is what makes a Fabric goal state "outdated" (older than the last Fast Track one) when the
// agent starts with Fast Track disabled or the HostGAPlugin stops supporting vmSettings: such a goal state is not
// executed (§3.4 "404").
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from '../os/atomic-file.ts';

export const FAST_TRACK_FILE = 'fast_track.json';

/** .NET ticks (100 ns since 0001-01-01T00:00:00Z) of the Unix epoch. */
const EPOCH_TICKS = 621355968000000000n;

/** Ticks as the Python agent's timestamps: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds). */
export function ticksToTimestamp(ticks: bigint): string {
  const sinceEpoch = ticks - EPOCH_TICKS;
  let seconds = sinceEpoch / 10_000_000n;
  let rest = sinceEpoch % 10_000_000n;
  if (rest < 0n) {
    rest += 10_000_000n;
    seconds -= 1n;
  }
  const date = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${date}.${String(rest / 10n).padStart(6, '0')}Z`;
}

/** The inverse of ticksToTimestamp for the timestamps this module writes (any ISO 8601 UTC text is accepted); null when unreadable. */
export function timestampToTicks(text: string): bigint | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z?$/.exec(text.trim());
  if (!m) return null;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return null;
  const fraction = BigInt((m[2] ?? '').padEnd(7, '0'));
  return EPOCH_TICKS + BigInt(ms) * 10_000n + fraction;
}

export function saveFastTrackState(libDir: string, createdOnTicks: bigint): void {
  try {
    writeFileAtomic(join(libDir, FAST_TRACK_FILE), JSON.stringify({ timestamp: ticksToTimestamp(createdOnTicks) }), {
      mode: 0o644,
      mkdir: true,
    });
  } catch (e) {
    log.warn(`cannot update the Fast Track state ${join(libDir, FAST_TRACK_FILE)}: ${describeError(e)}`);
  }
}

export function clearFastTrackState(libDir: string): void {
  try {
    rmSync(join(libDir, FAST_TRACK_FILE), { force: true });
  } catch (e) {
    log.warn(`cannot clear the Fast Track state ${join(libDir, FAST_TRACK_FILE)}: ${describeError(e)}`);
  }
}

/** The created-on ticks of the last Fast Track goal state, or null when there is no (readable) fast_track.json. */
export function readFastTrackTicks(libDir: string): bigint | null {
  const path = join(libDir, FAST_TRACK_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const ts = (JSON.parse(text) as { timestamp?: unknown } | null)?.timestamp;
    const ticks = typeof ts === 'string' ? timestampToTicks(ts) : null;
    if (ticks === null) log.warn(`${path} holds no valid timestamp; ignoring it`);
    return ticks;
  } catch (e) {
    log.warn(`${path} is not valid JSON (${describeError(e)}); ignoring it`);
    return null;
  }
}
