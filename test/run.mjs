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
const all = [...find('vendor'), ...find('test')].sort();
const isImage = (f) => f.startsWith('test/image/');
// The image test (a booted systemd in a container, test/image/; docs/development.md "The image test") runs last and
// on its own, after everything else has finished: it boots containers for a few minutes and, the first time, makes
// its Debian root file system with debootstrap. `npm run test:image` runs only it.
const selected = filter.length ? all.filter((f) => filter.some((x) => f.includes(x))) : all;
const files = selected.filter((f) => !isImage(f));
const imageFiles = selected.filter(isImage);
if (selected.length === 0) {
  console.error('test: no test files matched');
  process.exit(1);
}

/**
 * Every test file but the image test runs in a network namespace of its own with only loopback up, so no test —
 * in-process ones included — can reach the platform's addresses (168.63.129.16, 169.254.169.254) or any other host
 * (docs/development.md, "The sandbox"). The image test needs the network once, for debootstrap, and keeps its
 * containers off it with systemd-nspawn --private-network.
 */
function runTests(list, concurrency, isolateNetwork) {
  const argv = [process.execPath, '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...list];
  const isolated = isolateNetwork && process.getuid?.() === 0;
  if (isolateNetwork && !isolated) console.error('test: not root, so the tests share the host network namespace');
  const [cmd, ...args] = isolated ? ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...argv] : argv;
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, WAAGENT_ROOT: ROOT } });
  if (r.error) console.error(`test: cannot start ${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

let status = 0;
if (files.length) status = runTests(files, process.env.TEST_CONCURRENCY ?? 3, true);
if (imageFiles.length) {
  if (files.length) console.log(`\ntest: the image test (${imageFiles.join(' ')})`);
  status = runTests(imageFiles, 1, false) || status;
}
process.exit(status);
