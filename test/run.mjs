#!/usr/bin/env node
// The test command: builds the artifacts (unless WAAGENT_SKIP_BUILD=1), then runs every test file
// (unit tests beside the code in test/unit and vendor/, end-to-end tests in test/e2e) with Node's
// own test runner on the pinned runtime. TypeScript is loaded by Node's built-in type stripping.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
process.chdir(ROOT);

if (!process.versions.node.startsWith('24.')) {
  console.error(`test: running on Node ${process.versions.node}; run through "npm test" so the pinned Node 24 is used`);
  process.exit(2);
}

if (process.env.WAAGENT_SKIP_BUILD !== '1') {
  const b = spawnSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) continue;
    if (statSync(p).isDirectory()) find(p, out);
    else if (/\.test\.(ts|mjs)$/.test(name)) out.push(relative(ROOT, p));
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find('vendor'), ...find('test')].sort();
// The image test (a booted systemd in a container, test/image/) is its own command, `npm run test:image`: it needs
// a Debian root filesystem made by debootstrap on first use and runs for minutes; CI runs it after `npm test`.
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
else files = files.filter((f) => !f.startsWith('test/image/'));
if (files.length === 0) {
  console.error('test: no test files matched');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`, ...files],
  { stdio: 'inherit', env: { ...process.env, WAAGENT_ROOT: ROOT } },
);
process.exit(r.status ?? 1);
