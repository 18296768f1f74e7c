// src/util/jit-tiers.ts: after dropOptimizingTiers() a hot function is not optimized any more (checked with V8's
// own %GetOptimizationStatus in a child node), and the PKCS#12 key derivation gives the same bytes on both paths.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const src = (p: string) => fileURLToPath(new URL(`../../../src/${p}`, import.meta.url));

/** Runs an ES module body in a child node with natives syntax (V8's %-functions) and returns its stdout. */
function child(body: string): string {
  return execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', body], { encoding: 'utf8' });
}

// V8's OptimizationStatus bits (src/runtime/runtime.h): kOptimized = 1 << 4, kMaglevved = 1 << 5, kTurboFanned = 1 << 6
const HOT = `
function hot(a) { let s = 0; for (let i = 0; i < a.length; i++) s = (s + a[i] * 31) | 0; return s; }
const a = new Int32Array(1000).fill(3);
for (let i = 0; i < 20000; i++) hot(a);
console.log(%GetOptimizationStatus(hot) & (1 << 4) ? 'optimized' : 'not optimized');`;

test('a hot function is optimized by default and not once dropOptimizingTiers() ran', () => {
  const mod = JSON.stringify(src('util/jit-tiers.ts'));
  assert.equal(child(`import { optimizingTiersOn } from ${mod}; console.log(optimizingTiersOn()); ${HOT}`).trim(), 'true\noptimized');
  assert.equal(
    child(
      `import { dropOptimizingTiers, optimizingTiersOn } from ${mod}; dropOptimizingTiers(); dropOptimizingTiers(); console.log(optimizingTiersOn()); ${HOT}`,
    ).trim(),
    'false\nnot optimized',
  );
});

test('the PKCS#12 SHA-1 key derivation gives the same bytes with and without the optimizing tiers', () => {
  const kdf = `import { pkcs12Kdf } from ${JSON.stringify(src('crypto/pbe.ts'))};
    const pw = Buffer.from('0070006100730073000000', 'hex'), salt = Buffer.from('0a58cf64530d823f', 'hex');
    console.log([1, 2, 3].map((id) => pkcs12Kdf('sha1', pw, salt, id, 2048, 24).toString('hex')).join(' '));`;
  const on = child(kdf).trim();
  const off = child(
    `import { dropOptimizingTiers } from ${JSON.stringify(src('util/jit-tiers.ts'))}; dropOptimizingTiers(); ${kdf}`,
  ).trim();
  assert.match(on, /^[0-9a-f]{48} [0-9a-f]{48} [0-9a-f]{48}$/);
  assert.equal(off, on);
});
