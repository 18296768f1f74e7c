// Runs INSIDE the namespace sandbox (started by resource-disk.test.ts, never on the host): one ensureResourceDisk
// run with the configuration and paths given as JSON in argv[2]; prints the result as JSON.
import { Config, type ConfigKey, type Value } from '../../src/config/index.ts';
import { ensureResourceDisk, type ResourceDiskEnv } from '../../src/os/resource-disk/index.ts';

const arg = JSON.parse(process.argv[2] ?? '{}') as { config?: Partial<Record<ConfigKey, Value>>; env?: ResourceDiskEnv };
const config = Config.from(arg.config ?? {});
const result = await ensureResourceDisk(config, { waitTries: 10, waitIntervalMs: 200, ...arg.env });
process.stdout.write(JSON.stringify(result) + '\n');
