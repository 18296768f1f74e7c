import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sha1Iterate } from '../../../src/crypto/sha1-iterate.ts';

function reference(input: Buffer, times: number): Buffer {
  let a = input;
  for (let i = 0; i < times; i++) a = createHash('sha1').update(a).digest();
  return a;
}

test('iterated SHA-1 in JavaScript agrees with node:crypto for random inputs and counts', () => {
  for (const times of [0, 1, 2, 3, 17, 2047]) {
    for (let k = 0; k < 5; k++) {
      const input = randomBytes(20);
      assert.equal(sha1Iterate(input, times).toString('hex'), reference(input, times).toString('hex'), `times ${times}`);
    }
  }
  // a known answer: SHA-1 of 20 zero bytes
  assert.equal(sha1Iterate(Buffer.alloc(20), 1).toString('hex'), '6768033e216468247bd031a0a2d9876d79818f8f');
});

test('iterated SHA-1 takes only a 20-byte digest', () => {
  assert.throws(() => sha1Iterate(Buffer.alloc(19), 1), /20-byte/);
});
