// src/util/jit-tiers.ts: optimizingTiersOn() reads V8's flags from the command line (the executable's are baked in by
// build.mjs), agrees with V8's own %GetOptimizationStatus in a child node, and the PKCS#12 key derivation gives the
// same bytes on both of its paths (JavaScript SHA-1 with the tiers, node:crypto without).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { optimizingTiersOn } from '../../../src/util/jit-tiers.ts';

const src = (p: string) => fileURLToPath(new URL(`../../../src/${p}`, import.meta.url));

/** Runs an ES module body in a child node with natives syntax (V8's %-functions) and these flags; its stdout. */
function child(flags: string[], body: string): string {
  return execFileSync(process.execPath, ['--allow-natives-syntax', ...flags, '--input-type=module', '-e', body], { encoding: 'utf8' });
}

// V8's OptimizationStatus bits (src/runtime/runtime.h): kOptimized = 1 << 4
const HOT = `
function hot(a) { let s = 0; for (let i = 0; i < a.length; i++) s = (s + a[i] * 31) | 0; return s; }
const a = new Int32Array(1000).fill(3);
for (let i = 0; i < 20000; i++) hot(a);
console.log(%GetOptimizationStatus(hot) & (1 << 4) ? 'optimized' : 'not optimized');`;

test('optimizingTiersOn() agrees with V8: a hot function is optimized unless both tiers are off', () => {
  const probe = `import { optimizingTiersOn } from ${JSON.stringify(src('util/jit-tiers.ts'))}; console.log(optimizingTiersOn()); ${HOT}`;
  assert.equal(child([], probe).trim(), 'true\noptimized');
  assert.equal(child(['--no-opt', '--no-maglev'], probe).trim(), 'false\nnot optimized');
  assert.equal(child(['--no-opt'], probe).trim(), 'true\noptimized', 'Maglev alone still optimizes');
});

test('optimizingTiersOn() reads the last spelling of each flag', () => {
  assert.equal(optimizingTiersOn([]), true);
  assert.equal(optimizingTiersOn(['--max-semi-space-size=1', '--no-opt', '--no-maglev']), false);
  assert.equal(optimizingTiersOn(['--no-opt', '--no-maglev', '--maglev']), true);
  assert.equal(optimizingTiersOn(['--no-maglev', '--opt', '--no-opt']), false);
  assert.equal(optimizingTiersOn(['--jitless']), false);
  assert.equal(optimizingTiersOn(['--jitless', '--no-jitless']), true);
});

test('the PKCS#12 SHA-1 key derivation gives the same bytes with and without the optimizing tiers', () => {
  const kdf = `import { pkcs12Kdf } from ${JSON.stringify(src('crypto/pbe.ts'))};
    const pw = Buffer.from('0070006100730073000000', 'hex'), salt = Buffer.from('0a58cf64530d823f', 'hex');
    console.log([1, 2, 3].map((id) => pkcs12Kdf('sha1', pw, salt, id, 2048, 24).toString('hex')).join(' '));`;
  const on = child([], kdf).trim();
  const off = child(['--no-opt', '--no-maglev'], kdf).trim();
  assert.match(on, /^[0-9a-f]{48} [0-9a-f]{48} [0-9a-f]{48}$/);
  assert.equal(off, on);
});
