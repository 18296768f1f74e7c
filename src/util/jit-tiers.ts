// V8's optimizing compilers (Maglev, TurboFan) switched off for the rest of the process once the daemon has
// provisioned (issue 14, bench/README.md "V8 flags"): the idle loop runs in Ignition and Sparkplug, which leaves the
// compilers' code pages of the executable and their zones untouched — ~9 MiB less RSS for the life of the VM, no
// more CPU per cycle. Provisioning, the one CPU-bound burst, keeps them. Node keeps V8's flags writable after
// start-up (it does not freeze them), and flags read at tiering time take effect for every later decision; functions
// already optimized stay so.
import { setFlagsFromString } from 'node:v8';

let optimizing = true;

/** From now on, no function is optimized by Maglev or TurboFan. Idempotent. */
export function dropOptimizingTiers(): void {
  if (!optimizing) return;
  setFlagsFromString('--no-opt');
  setFlagsFromString('--no-maglev');
  optimizing = false;
}

/** false once dropOptimizingTiers() ran: tight JavaScript loops are then slower than a call into node:crypto. */
export function optimizingTiersOn(): boolean {
  return optimizing;
}
