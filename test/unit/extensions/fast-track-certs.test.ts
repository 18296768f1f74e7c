import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ExtensionHandler, ExtensionSettings } from '../../../src/fabric/documents/index.ts';
import { missingCertificates } from '../../../src/extensions/fast-track-certs.ts';

const settings = (tp: string | null): ExtensionSettings => ({
  name: 'x',
  seqNo: 0,
  state: 'enabled',
  dependencyLevel: 0,
  publicSettings: null,
  protectedSettings: 'p',
  certificateThumbprint: tp,
});
const handler = (...tps: Array<string | null>) => ({ name: 'H', settings: tps.map(settings) }) as unknown as ExtensionHandler;

test('missing certificates: the thumbprints named in settings without a .crt in Lib.Dir, upper case and once each', () => {
  const lib = mkdtempSync(join(tmpdir(), 'ft-certs-'));
  const have = 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9';
  writeFileSync(join(lib, `${have}.crt`), 'x');
  const missing = 'ab'.repeat(20);
  assert.deepEqual(missingCertificates([handler(have, missing, null), handler(missing.toUpperCase(), 'not-a-thumbprint')], lib), [
    'AB'.repeat(20),
  ]);
  assert.deepEqual(missingCertificates([handler(have.toLowerCase())], lib), []);
  assert.deepEqual(missingCertificates([], lib), []);
});
