// Runs the openssl CLI for the emulator (a test tool may use it; src/ must not need it).
import { spawn, spawnSync } from 'node:child_process';

export class OpensslError extends Error {}

/** Runs `openssl args...` with optional stdin; resolves with stdout, rejects with its stderr on failure. */
export function openssl(args: string[], input?: Buffer | string): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new OpensslError(`openssl could not be run: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out));
      else reject(new OpensslError(`openssl ${args[0]} failed (exit ${code}): ${firstLine(Buffer.concat(err))}`));
    });
    child.stdin.on('error', () => {}); // openssl may exit before reading everything; the exit code tells
    child.stdin.end(input ?? '');
  });
}

/** Synchronous form, for start-up work. */
export function opensslSync(args: string[], input?: Buffer | string): Buffer {
  const r = spawnSync('openssl', args, { input: input ?? '', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new OpensslError(`openssl could not be run: ${r.error.message}`);
  if (r.status !== 0) throw new OpensslError(`openssl ${args[0]} failed (exit ${r.status}): ${firstLine(r.stderr)}`);
  return r.stdout;
}

function firstLine(b: Buffer): string {
  return b.toString('utf8').trim().split('\n')[0] ?? '';
}
