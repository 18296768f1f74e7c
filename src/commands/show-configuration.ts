import type { Config } from '../config/index.ts';
import { formatValue } from '../config/index.ts';

/** `Key = value`, one line a key, sorted, as the Python agent prints it. */
export function showConfiguration(config: Config): string {
  return config
    .entries()
    .map(([k, v]) => `${k} = ${formatValue(v)}`)
    .join('\n');
}
