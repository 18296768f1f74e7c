// Persistent NIC naming rules (docs/protocol.md §8.7): udev rules that pin interface names to MAC addresses break
// a VM whose NIC changes (resize, capture and redeploy), so they are moved into Lib.Dir. Not on Debian/Ubuntu,
// whose osutil keeps them, as upstream.
import { existsSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { libDirOf, type Config } from '../config/index.ts';
import { log } from '../log/logger.ts';
import type { PeriodicTask } from '../util/periodic.ts';

export const PERSISTENT_NET_RULES = ['/lib/udev/rules.d/75-persistent-net-generator.rules', '/etc/udev/rules.d/70-persistent-net.rules'];

export function movePersistentNetRules(libDir: string, rules: readonly string[] = PERSISTENT_NET_RULES): string[] {
  const moved: string[] = [];
  for (const path of rules) {
    if (!existsSync(path)) continue;
    const dest = join(libDir, basename(path));
    renameSync(path, dest);
    log.info(`moved ${path} to ${dest}`);
    moved.push(path);
  }
  return moved;
}

export function persistentNetTask(config: Config, rules: readonly string[] = PERSISTENT_NET_RULES): PeriodicTask {
  const libDir = libDirOf(config);
  return {
    name: 'persistent net rules',
    periodMs: config.int('OS.RemovePersistentNetRulesPeriod') * 1000,
    async run() {
      movePersistentNetRules(libDir, rules);
    },
  };
}
