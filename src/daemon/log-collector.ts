// The log collector: a zip (in memory) of the agent's logs and state, for -collect-logs [-full] (which writes it
// to <Lib.Dir>/logcollector/logs.zip, src/commands/collect-logs.ts) and for the daemon's periodic collection
// (Logs.Collect, uploaded through the HostGAPlugin). Every text file goes through redact() (SAS tokens, passwords,
// protected settings) and private-key blocks are cut; key and certificate stores, custom data and binary files are
// never included. -full adds the system logs and the whole lib dir (minus secrets).
import { closeSync, constants, fstatSync, globSync, openSync, readSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openRegular, UnsafeFileError } from '../os/safe-read.ts';
import type { Config } from '../config/index.ts';
import { DEFAULT_CONFIG_PATH, libDirOf } from '../config/index.ts';
import { createZip, type ZipWriteEntry } from '../archive/zip-write.ts';
import { redact } from '../log/redact.ts';

/** Largest part of one file kept (its end: logs grow at the end). */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
/** Largest total of file contents in one archive. */
export const MAX_TOTAL_BYTES = 150 * 1024 * 1024;

/** Files never collected, by name: private keys, certificate bundles with keys, custom data. */
const SECRET_NAME =
  /(\.prv|\.key|\.pfx|\.p7m|\.p12)$|^(TransportPrivate\.pem|Certificates\.pem|Certificates\.xml|CustomData|ovf-env\.xml\.orig)$|^ssh_host_/;
const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g;

export function manifest(config: Config, full: boolean): string[] {
  const lib = libDirOf(config);
  const extLogs = config.str('Extension.LogDir');
  const agentLog = config.str('Logs.File');
  const normal = [
    '/etc/os-release',
    '/etc/*-release',
    '/etc/hostname',
    '/etc/HOSTNAME',
    config.path ?? DEFAULT_CONFIG_PATH,
    `${agentLog}*`,
    '/var/log/dmesg*',
    `${extLogs}/*/*`,
    `${extLogs}/*/*/*`,
    `${lib}/*.xml`,
    `${lib}/*.json`,
    `${lib}/provisioned`,
    `${lib}/published_hostname`,
    `${lib}/*/HandlerManifest.json`,
    `${lib}/*/HandlerEnvironment.json`,
    `${lib}/*/status/*.status`,
    `${lib}/*/config/*.settings`,
    `${lib}/*/config/HandlerState`,
    `${lib}/*/config/HandlerStatus`,
    `${lib}/*/error.json`,
    `${lib}/history/*/*`,
  ];
  if (!full) return normal;
  return [
    ...normal,
    '/var/log/syslog*',
    '/var/log/messages*',
    '/var/log/boot.log*',
    '/var/log/cloud-init*',
    `${extLogs}/**/*`,
    `${lib}/**/*`,
    '/etc/ssh/sshd_config',
    '/etc/ssh/sshd_config.d/*',
    '/etc/sudoers.d/waagent',
    '/run/systemd/netif/leases/*',
    '/var/lib/dhcp/*',
    '/var/lib/NetworkManager/*.lease',
  ];
}

/** The end of a file, at most `max` bytes. */
/** The last `max` bytes of the open file of `size` bytes. */
function readTail(fd: number, size: number, max: number): Buffer {
  const n = Math.min(size, max);
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const r = readSync(fd, buf, off, n - off, size - n + off);
    if (r === 0) break;
    off += r;
  }
  return buf.subarray(0, off);
}

/** The directory part of a pattern before its first wildcard: the files it matches must really be inside it. */
function patternRoot(pattern: string): string {
  const wild = pattern.search(/[*?[]/);
  return dirname(wild < 0 ? pattern : pattern.slice(0, wild + 1));
}

/**
 * Opens a matched file for reading. The system's own /etc files may be links (os-release is one). In the agent's
 * and the extensions' trees nothing is followed: an extension that makes its log folder a link to /etc must not
 * pull /etc/shadow into an archive sent to the platform, so the file is opened with O_NOFOLLOW|O_NONBLOCK, must be a
 * regular file, and must really lie under the pattern's own directory (src/os/safe-read.ts).
 */
function openMatched(pattern: string, path: string): { fd: number; stats: Stats } {
  if (pattern.startsWith('/etc/')) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      closeSync(fd);
      throw new Error('not a regular file');
    }
    return { fd, stats };
  }
  const { fd, st } = openRegular(path, { within: patternRoot(pattern) });
  return { fd, stats: st };
}

export function redactForArchive(text: string): string {
  return redact(text.replace(PRIVATE_KEY_BLOCK, '***REDACTED PRIVATE KEY***'));
}

export interface CollectResult {
  zip: Buffer;
  included: string[];
  skipped: string[];
}

/** Collects the files of the manifest into a zip (in memory); `skipped` says why each left-out file was left out. */
export function collectLogs(config: Config, full: boolean, maxTotalBytes: number = MAX_TOTAL_BYTES): CollectResult {
  const lib = libDirOf(config);
  const outDir = join(lib, 'logcollector');
  const seen = new Set<string>();
  const entries: ZipWriteEntry[] = [];
  const included: string[] = [];
  const skipped: string[] = [];
  let total = 0;
  for (const pattern of manifest(config, full)) {
    const matches = /[*?[]/.test(pattern) ? globSync(pattern) : [pattern];
    for (const path of matches.sort()) {
      if (seen.has(path) || path.startsWith(outDir + '/')) continue;
      seen.add(path);
      let opened: { fd: number; stats: Stats };
      try {
        opened = openMatched(pattern, path);
      } catch (e) {
        // missing or a directory: not a log file; a link or a FIFO in an extension's tree: left out, and said so
        if (e instanceof UnsafeFileError && e.reason !== 'missing' && e.reason !== 'not-regular') skipped.push(`${path}: ${e.message}`);
        continue;
      }
      const st = opened.stats;
      if (SECRET_NAME.test(basename(path))) {
        closeSync(opened.fd);
        skipped.push(`${path}: may hold secrets`);
        continue;
      }
      if (total >= maxTotalBytes) {
        closeSync(opened.fd);
        skipped.push(`${path}: the archive reached ${maxTotalBytes} bytes`);
        continue;
      }
      let data: Buffer;
      try {
        data = readTail(opened.fd, st.size, Math.min(MAX_FILE_BYTES, maxTotalBytes - total));
      } catch (e) {
        skipped.push(`${path}: ${(e as Error).message}`);
        continue;
      } finally {
        closeSync(opened.fd);
      }
      if (data.subarray(0, 8192).includes(0)) {
        skipped.push(`${path}: binary`);
        continue;
      }
      total += data.length;
      entries.push({ name: path.replace(/^\/+/, ''), data: redactForArchive(data.toString('utf8')), mode: 0o600 });
      included.push(data.length < st.size ? `${path} (last ${data.length} of ${st.size} bytes)` : path);
    }
  }
  const results = [`waagent -collect-logs${full ? ' -full' : ''}`, '', 'included:', ...included, '', 'left out:', ...skipped, ''].join(
    '\n',
  );
  entries.push({ name: 'results.txt', data: results, mode: 0o600 });
  return { zip: createZip(entries), included, skipped };
}
