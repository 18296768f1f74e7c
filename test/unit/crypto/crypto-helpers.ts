// Shared by the crypto-*.test.ts files: the host's openssl CLI (tests only: it makes the inputs the
// in-process code must read and the answers it must agree with) and temporary directories.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { FIXTURES as FIXTURE_ROOT } from '../../helpers/paths.ts';

export const FIXTURES = join(FIXTURE_ROOT, 'tests', 'data');

export function openssl(args: string[], input?: Buffer | string): Buffer {
  const r = spawnSync('openssl', args, { input, maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** True when the host openssl can run `args` (e.g. the legacy provider is installed). */
export function opensslCan(args: string[]): boolean {
  return spawnSync('openssl', args, { input: '' }).status === 0;
}

export function tempDir(prefix = 'crypto-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The Data text of a Certificates document (the XML layer is tested elsewhere). */
export function certificatesData(path: string): string {
  const m = /<Data>([\s\S]*?)<\/Data>/.exec(readFileSync(path, 'utf8'));
  if (!m) throw new Error(`${path} has no <Data> element`);
  return m[1]!;
}

export interface KeyPair {
  dir: string;
  keyPath: string;
  certPath: string;
  keyPem: string;
  certPem: string;
}

/** An RSA key and self-signed certificate made by openssl, as the platform's tenant or our transport cert. */
export function makeKeyPair(dir: string, name: string, bits = 2048): KeyPair {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  openssl([
    'req',
    '-x509',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-days',
    '30',
    '-newkey',
    `rsa:${bits}`,
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  return { dir, keyPath, certPath, keyPem: readFileSync(keyPath, 'utf8'), certPem: readFileSync(certPath, 'utf8') };
}
