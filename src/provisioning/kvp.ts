// Hyper-V KVP records in the guest → host pool (docs/peers.md §7): fixed 2,560-byte records (512-byte key, 2,048-byte
// value, UTF-8, NUL-padded, no header), appended. The PROVISIONING_REPORT record lets the host show why
// provisioning failed even when the WireServer cannot be reached.
//
// Locking: cloud-init and azure-init append under flock(2); hv_kvp_daemon uses fcntl(2) locks. Node has neither,
// so the record is appended by `flock -w 2 POOL dd oflag=append`: the util-linux flock tool takes the same lock
// the other writers take, and dd appends all the records in one write(2) on an O_APPEND descriptor (atomic on a
// local file system, which also covers hv_kvp_daemon: it re-reads the whole file and sees all or none of it).
// Without the flock tool the same single O_APPEND write is done in-process.
import { closeSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { run, which } from '../os/exec.ts';
import { OUR_VERSION } from '../util/version.ts';

export const KVP_POOL_1 = '/var/lib/hyperv/.kvp_pool_1';
export const KEY_SIZE = 512;
export const VALUE_SIZE = 2048;
export const RECORD_SIZE = KEY_SIZE + VALUE_SIZE;
export const MAX_RECORDS = 1024;
/** The kernel's UTF-8 → UTF-16 conversion on the host-read path is off by one: longer payloads are cut (docs/peers.md §7). */
export const SAFE_KEY_BYTES = 254;
export const SAFE_VALUE_BYTES = 1022;
export const DOCUMENTATION_URL = 'https://aka.ms/linuxprovisioningerror';

/** The longest prefix of s that fits in maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = maxBytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return buf.subarray(0, end).toString('utf8');
}

export function encodeRecord(key: string, value: string): Buffer {
  if (key === '' || Buffer.byteLength(key) > SAFE_KEY_BYTES) {
    throw new AgentError('provisioning', `the KVP key "${key.slice(0, 40)}" must have 1 to ${SAFE_KEY_BYTES} bytes`, {
      key: key.slice(0, 40),
    });
  }
  const rec = Buffer.alloc(RECORD_SIZE); // zero-filled: the NUL padding
  rec.write(key, 0, 'utf8');
  rec.write(truncateUtf8(value, SAFE_VALUE_BYTES), KEY_SIZE, 'utf8');
  return rec;
}

export function decodeRecords(pool: Buffer): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  const text = (b: Buffer) => b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString('utf8');
  for (let off = 0; off + RECORD_SIZE <= pool.length; off += RECORD_SIZE) {
    out.push({ key: text(pool.subarray(off, off + KEY_SIZE)), value: text(pool.subarray(off + KEY_SIZE, off + RECORD_SIZE)) });
  }
  return out;
}

/** A long value as several records with keys `<key>|<i>` (cloud-init's convention), each value within the safe size. */
export function splitRecords(key: string, value: string): Array<{ key: string; value: string }> {
  if (Buffer.byteLength(value) <= SAFE_VALUE_BYTES) return [{ key, value }];
  const out: Array<{ key: string; value: string }> = [];
  let rest = value;
  for (let i = 0; rest.length > 0; i++) {
    const part = truncateUtf8(rest, SAFE_VALUE_BYTES);
    out.push({ key: `${key}|${i}`, value: part });
    rest = rest.slice(part.length);
  }
  return out;
}

/** csv.writer with delimiter "|" and quote character "'" (cloud-init's encode_report): quote only when needed. */
function csvField(s: string): string {
  return /[|'\r\n]/.test(s) ? `'${s.replace(/'/g, "''")}'` : s;
}

export interface ReportFields {
  vmId: string;
  /** present for a failure */
  reason?: string;
  /** supporting key=value pairs of a failure, in order */
  details?: ReadonlyArray<readonly [string, string]>;
  ppsType?: string;
  timestamp?: Date;
}

/**
 * The PROVISIONING_REPORT value (docs/peers.md §7): `result=success|agent=…|pps_type=…|vm_id=…|timestamp=…`, or for a
 * failure `result=error|reason=…|agent=…|<details>|pps_type=…|vm_id=…|timestamp=…|documentation_url=…`. One record:
 * when too long, the reason and then the details are shortened so the identifying fields always arrive.
 */
export function provisioningReportValue(f: ReportFields): string {
  const agent = `agent=waagent-ts/${OUR_VERSION}`;
  const tail = [`pps_type=${f.ppsType ?? 'None'}`, `vm_id=${f.vmId}`, `timestamp=${(f.timestamp ?? new Date()).toISOString()}`];
  const join = (parts: string[]) => parts.map(csvField).join('|');
  if (f.reason === undefined) return join(['result=success', agent, ...tail]);
  let details = (f.details ?? []).map(([k, v]) => `${k}=${v}`);
  const build = (reason: string) =>
    join(['result=error', `reason=${reason}`, agent, ...details, ...tail, `documentation_url=${DOCUMENTATION_URL}`]);
  // Room for at least a short reason: drop supporting details from the end first.
  while (details.length > 0 && Buffer.byteLength(build('')) > SAFE_VALUE_BYTES - 128) details = details.slice(0, -1);
  let reason = f.reason;
  for (
    let over = Buffer.byteLength(build(reason)) - SAFE_VALUE_BYTES;
    over > 0;
    over = Buffer.byteLength(build(reason)) - SAFE_VALUE_BYTES
  ) {
    // quoting can grow the text a little, so repeat until it fits; the record writer cuts whatever still does not
    if (Buffer.byteLength(reason) <= over + 3) {
      reason = '';
      break;
    }
    reason = truncateUtf8(reason, Buffer.byteLength(reason) - over - 3) + '...';
  }
  return build(reason);
}

export interface AppendOptions {
  /** default /var/lib/hyperv/.kvp_pool_1 */
  poolPath?: string;
  /** the boot time; a pool last written before it is from an earlier boot and is emptied first (as cloud-init does) */
  bootTime?: Date;
}

function bootTime(): Date | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return m ? new Date(Number(m[1]) * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** Appends records to the pool; false (with a warning) when the pool is full. */
export async function appendKvpRecords(records: Array<{ key: string; value: string }>, opts: AppendOptions = {}): Promise<boolean> {
  const pool = opts.poolPath ?? KVP_POOL_1;
  const data = Buffer.concat(records.map((r) => encodeRecord(r.key, r.value)));
  mkdirSync(dirname(pool), { recursive: true, mode: 0o755 });
  try {
    const st = statSync(pool);
    const boot = opts.bootTime ?? bootTime();
    if (boot !== undefined && st.mtime < boot) truncateSync(pool, 0);
    else if (st.size / RECORD_SIZE + records.length > MAX_RECORDS) {
      log.warn(`the KVP pool ${pool} is full (${MAX_RECORDS} records); ${records[0]?.key ?? ''} not written`);
      return false;
    }
  } catch {
    /* no pool yet */
  }
  if (await which('flock')) {
    const argv = [
      'flock',
      '-w',
      '2',
      pool,
      'dd',
      `of=${pool}`,
      'oflag=append',
      'conv=notrunc',
      'iflag=fullblock',
      `bs=${data.length}`,
      'count=1',
      'status=none',
    ];
    await run(argv, { input: data, timeoutMs: 5000 }).catch((e: Error) => {
      throw new AgentError('io', `cannot append to the KVP pool ${pool}: ${e.message}`, { path: pool }, e);
    });
    return true;
  }
  let fd: number | undefined;
  try {
    fd = openSync(pool, 'a', 0o644);
    writeSync(fd, data);
  } catch (e) {
    throw new AgentError('io', `cannot append to the KVP pool ${pool}: ${(e as Error).message}`, { path: pool }, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return true;
}

/** Writes the PROVISIONING_REPORT record for a success (no reason) or a failure. */
export function writeProvisioningReport(fields: ReportFields, opts: AppendOptions = {}): Promise<boolean> {
  return appendKvpRecords([{ key: 'PROVISIONING_REPORT', value: provisioningReportValue(fields) }], opts);
}
