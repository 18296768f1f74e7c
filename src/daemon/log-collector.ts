// The log collector: a zip (in memory) of the agent's logs and state, for -collect-logs [-full] (which writes it
// to <Lib.Dir>/logcollector/logs.zip, src/commands/collect-logs.ts) and for the daemon's periodic collection
// (Logs.Collect, uploaded through the HostGAPlugin). Every text file goes through redact() (SAS tokens, passwords,
// protected settings) and private-key blocks are cut; key and certificate stores, custom data and binary files are
// never included. -full adds the system logs and the whole lib dir (minus secrets).
import { globSync, lstatSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
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
function readTail(path: string, size: number, max: number): Buffer {
  const n = Math.min(size, max);
  const buf = Buffer.alloc(n);
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    while (off < n) {
      const r = readSync(fd, buf, off, n - off, size - n + off);
      if (r === 0) break;
      off += r;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
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
      let st: import('node:fs').Stats;
      try {
        // A symlink is followed only for the system's own /etc files (os-release is one); in the agent's and the
        // extensions' trees it is not, so a link there cannot pull another file into the archive.
        st = pattern.startsWith('/etc/') ? statSync(path) : lstatSync(path);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      if (SECRET_NAME.test(basename(path))) {
        skipped.push(`${path}: may hold secrets`);
        continue;
      }
      if (total >= maxTotalBytes) {
        skipped.push(`${path}: the archive reached ${maxTotalBytes} bytes`);
        continue;
      }
      let data: Buffer;
      try {
        data = readTail(path, st.size, Math.min(MAX_FILE_BYTES, maxTotalBytes - total));
      } catch (e) {
        skipped.push(`${path}: ${(e as Error).message}`);
        continue;
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
