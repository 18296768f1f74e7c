// Whether V8 may optimize (Maglev or TurboFan) in this process. The executable runs without them (build.mjs V8_FLAGS,
// issue 14: the same speed and ~9 MiB less RSS); `node dist/waagent.js` and the tests run with them unless told.
// Code that chooses between a JavaScript loop and a call into node:crypto asks: Sparkplug alone runs tight loops
// several times slower than the call (bench/README.md "V8 flags").

/** false when V8 runs without its optimizing tiers: --jitless, or both --no-opt and --no-maglev (the last spelling wins). */
export function optimizingTiersOn(argv: readonly string[] = process.execArgv): boolean {
  /** flag a is given, and after flag b if b is given too */
  const later = (a: string, b: string): boolean => argv.lastIndexOf(a) > argv.lastIndexOf(b);
  if (later('--jitless', '--no-jitless')) return false;
  return !later('--no-opt', '--opt') || !later('--no-maglev', '--maglev');
}
