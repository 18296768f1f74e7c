// Hostname monitoring (docs/protocol.md §8.6): when the machine's name differs from the one last published
// (<Lib.Dir>/published_hostname; at first cloud-init's set-hostname record or the current name), the new name is
// set with the profile's hostname tool (as the Python agent's set_hostname) and published to the DHCP server again.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import type { DistroProfile } from '../os/distro-profile.ts';
import { publishHostname, setHostname } from '../provisioning/hostname.ts';
import type { PeriodicTask } from '../util/periodic.ts';

const CLOUD_INIT_SET_HOSTNAME = '/var/lib/cloud/data/set-hostname';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The name recorded as published: our file, else cloud-init's record, else the current name. */
export function recordedHostname(libDir: string, cloudInitRecord = CLOUD_INIT_SET_HOSTNAME): string {
  const ours = readText(join(libDir, 'published_hostname'));
  if (ours) return ours;
  const ci = readText(cloudInitRecord);
  if (ci) {
    try {
      const name = (JSON.parse(ci) as { hostname?: unknown }).hostname;
      if (typeof name === 'string' && name) return name;
    } catch {
      /* not JSON: ignored */
    }
  }
  return hostname();
}

export interface HostnameMonitorOptions {
  currentName?: () => string;
  /** default setHostname with the profile's tool (/etc/hostname, or hostnamectl) */
  setName?: (name: string) => Promise<unknown>;
  publish?: (name: string) => Promise<unknown>;
}

export function hostnameMonitorTask(config: Config, profile: DistroProfile, opts: HostnameMonitorOptions = {}): PeriodicTask {
  const libDir = libDirOf(config);
  const current = opts.currentName ?? hostname;
  const setName = opts.setName ?? ((name: string) => setHostname(name, { profile }));
  const publish = opts.publish ?? ((name: string) => publishHostname(config, name, { profile }));
  let recorded: string | null = null;
  return {
    name: 'hostname monitor',
    periodMs: config.int('Provisioning.MonitorHostNamePeriod') * 1000,
    async run() {
      recorded ??= recordedHostname(libDir);
      const before = recorded;
      const now = current();
      if (now === before) return;
      log.info(`the hostname changed from ${before} to ${now}: publishing it`);
      await setName(now);
      await publish(now); // writes published_hostname
      recorded = now;
    },
  };
}
