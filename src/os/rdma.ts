// RDMA setup (docs/protocol.md §8.4, §2.7): the RDMA address and MAC of this instance come from SharedConfig. With
// the Network Direct driver (hv_network_direct, /dev/hvnd_rdma present) they are written to the device, except for
// driver 4.1 and later, which does not take them; the DAPL configuration (dat.conf) gets the address, and the
// interface carrying the RDMA MAC gets the address (/16) and is brought up. SR-IOV InfiniBand (IPoIB on ib0) and
// driver installation are not done (see the README). The daemon runs it once per new SharedConfig
// (src/daemon/rdma-task.ts), with the address read by src/fabric/documents/shared-config.ts.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { run, which } from './exec.ts';

export const RDMA_DEVICE = '/dev/hvnd_rdma';
export const DAT_CONF_PATHS: readonly string[] = ['/etc/dat.conf', '/etc/rdma/dat.conf', '/usr/local/etc/dat.conf'];
const DRIVER = 'hv_network_direct';
/** upstream's netmask of the RDMA interface */
const RDMA_PREFIX = 16;

export interface RdmaSettings {
  ipv4: string;
  /** aa:bb:cc:dd:ee:ff, upper case as SharedConfig has it */
  mac: string;
}

export function rdmaEnabled(config: Config): boolean {
  return config.bool('OS.EnableRDMA') || config.bool('OS.UpdateRdmaDriver') || config.bool('OS.CheckRdmaDriver');
}

export function deviceConfigLine(s: RdmaSettings): string {
  return `rdmaMacAddress="${s.mac}" rdmaIPv4Address="${s.ipv4}"`;
}

/** [major, minor] of "4.2.1" (sysfs) or of modinfo's "version:        4.2.1.0" line; null when absent. */
export function parseDriverVersion(text: string): [number, number] | null {
  const m = /^\s*(?:version:\s+)?(\d+)\.(\d+)\b/im.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Driver 4.1 and later configure themselves: the device write is skipped (upstream's check). */
export function driverTakesDeviceConfig(version: [number, number] | null): boolean {
  if (!version) return true; // unknown: assumed 4.0 or older, as upstream
  const [major, minor] = version;
  return major < 4 || (major === 4 && minor === 0);
}

/** /sys/module/hv_network_direct/version, else `modinfo hv_network_direct`; null when neither says. */
export async function driverVersion(sysModuleDir = '/sys/module'): Promise<[number, number] | null> {
  try {
    const v = parseDriverVersion(readFileSync(join(sysModuleDir, DRIVER, 'version'), 'utf8'));
    if (v) return v;
  } catch {
    /* no sysfs version: ask modinfo */
  }
  if (!(await which('modinfo'))) return null;
  const r = await run(['modinfo', DRIVER], { allowFailure: true, timeoutMs: 10_000 });
  return r.code === 0 ? parseDriverVersion(r.stdout) : null;
}

/** The DAPL provider line of ib0 gets the RDMA address (upstream's replace_dat_conf_contents). */
export function datConfWithAddress(text: string, ipv4: string): string {
  return text.replace(/(ofa-v2-ib0 u2\.0 nonthreadsafe default libdaplofa\.so\.2 dapl\.2\.0 ")\S+( 0")/g, `$1${ipv4}$2`);
}

/** The interface whose MAC is `mac`, from <sysClassNet>/<if>/address. */
export function interfaceByMac(mac: string, sysClassNet = '/sys/class/net'): string | null {
  let names: string[];
  try {
    names = readdirSync(sysClassNet).sort();
  } catch {
    return null;
  }
  for (const n of names) {
    try {
      if (
        readFileSync(join(sysClassNet, n, 'address'), 'utf8')
          .trim()
          .toLowerCase() === mac.toLowerCase()
      )
        return n;
    } catch {
      /* not an interface directory */
    }
  }
  return null;
}

export interface RdmaOptions {
  device?: string;
  sysModuleDir?: string;
  sysClassNet?: string;
  datConfPaths?: readonly string[];
}

export interface RdmaResult {
  settings: RdmaSettings;
  device: 'written' | 'skipped-driver-4.1' | 'no-device';
  datConf: string | null;
  iface: string | null;
}

export async function setupRdma(settings: RdmaSettings, opts: RdmaOptions = {}): Promise<RdmaResult> {
  const result: RdmaResult = { settings, device: 'no-device', datConf: null, iface: null };
  const device = opts.device ?? RDMA_DEVICE;
  if (existsSync(device)) {
    const version = await driverVersion(opts.sysModuleDir);
    if (driverTakesDeviceConfig(version)) {
      writeFileSync(device, deviceConfigLine(settings)); // a character device: written in place, never renamed over
      result.device = 'written';
    } else {
      result.device = 'skipped-driver-4.1';
    }
    log.info(
      `RDMA: ${DRIVER} ${version ? version.join('.') : '(version unknown)'}: ${result.device === 'written' ? `wrote ${deviceConfigLine(settings)} to ${device}` : `${device} left alone (driver 4.1 or later)`}`,
    );
  } else {
    log.info(`RDMA: ${device} does not exist (no Network Direct driver); SR-IOV/IPoIB setup is not done by this agent`);
  }
  for (const p of opts.datConfPaths ?? DAT_CONF_PATHS) {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      continue;
    }
    const edited = datConfWithAddress(text, settings.ipv4);
    if (edited !== text) writeFileAtomic(p, edited, { mode: 0o644 });
    result.datConf = p;
    break;
  }
  result.iface = interfaceByMac(settings.mac, opts.sysClassNet);
  if (result.iface) {
    await run(['ip', 'link', 'set', result.iface, 'up'], { timeoutMs: 10_000 });
    await run(['ip', 'addr', 'replace', `${settings.ipv4}/${RDMA_PREFIX}`, 'dev', result.iface], { timeoutMs: 10_000 });
    log.info(`RDMA: ${result.iface} is up with ${settings.ipv4}/${RDMA_PREFIX}`);
  } else {
    log.info(`RDMA: no interface has the RDMA MAC ${settings.mac} yet`);
  }
  return result;
}
