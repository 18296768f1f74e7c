#!/usr/bin/env node
// What image pipelines take from dist/, made from the built executables and init/ (docs/image-building.md):
//   dist/sysext-<arch>/waagent/       the Flatcar system extension as a directory tree
//   dist/sysext-<arch>/waagent.raw    the same tree as a squashfs image (mksquashfs), for /etc/extensions
//   dist/waagent-root-<family>-<arch>.tar.gz
//                                     a root tree to unpack onto an image as is: usr/sbin/waagent, the unit
//                                     (enabled), /etc/waagent.conf of the family, the logrotate file
// <arch> is systemd's architecture name (x86-64, arm64). `npm run build` makes the sysext trees (a copy: cheap);
// `npm run sysext` (this script) makes all of it. The packed forms take minutes on two cores (gzip and squashfs of
// two 100 MiB executables, ten archives), so the default build, which every `npm test` runs, leaves them out.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const INIT = join(ROOT, 'init');
const say = (m) => process.stdout.write(`build: ${m}\n`);

/** dist/ executable → systemd's architecture name (os-release ARCHITECTURE=, ConditionArchitecture=) */
export const ARCHES = [
  { binary: 'waagent', arch: 'x86-64', short: 'x64' },
  { binary: 'waagent-linux-arm64', arch: 'arm64', short: 'arm64' },
];
/** Flatcar's SYSEXT_LEVEL (its os-release says SYSEXT_LEVEL=1.0) */
export const SYSEXT_LEVEL = '1.0';
/** the unit name each family's package uses (Debian and Ubuntu: walinuxagent), as -register-service writes it */
export const FAMILIES = { rhel: 'waagent', debian: 'walinuxagent', ubuntu: 'walinuxagent', suse: 'waagent', azurelinux: 'waagent' };
/** the families whose ssh unit is ssh.service (the distro profile's sshdService), not upstream's sshd.service */
const SSH_UNIT_FAMILIES = new Set(['debian', 'ubuntu']);

/** The unit of a family's root tree: init/systemd/waagent.service wanting the family's ssh unit, as -register-service writes it. */
export function familyUnit(family) {
  const text = readFileSync(join(INIT, 'systemd', 'waagent.service'), 'utf8');
  return SSH_UNIT_FAMILIES.has(family) ? text.replace(/^(Wants=.*)\bsshd\.service\b/m, '$1ssh.service') : text;
}

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
}

function put(root, path, from, mode) {
  const to = join(root, path);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

function link(root, path, target) {
  const at = join(root, path);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(target, at);
}

/**
 * The system extension tree: the executable, the unit, and what starts it once per boot: multi-user.target upholds
 * and wants waagent-sysext.target, which wants the agent (init/flatcar/10-waagent-sysext.conf says why not a wants link or
 * Upholds= on the agent itself).
 */
export function sysextTree(dir, binary, arch) {
  rmSync(dir, { recursive: true, force: true });
  put(dir, 'usr/sbin/waagent', binary, 0o755);
  put(dir, 'usr/lib/systemd/system/waagent.service', join(INIT, 'flatcar', 'waagent.service'), 0o644);
  put(dir, 'usr/lib/systemd/system/waagent-sysext.target', join(INIT, 'flatcar', 'waagent-sysext.target'), 0o644);
  put(dir, 'usr/lib/systemd/system/multi-user.target.d/10-waagent-sysext.conf', join(INIT, 'flatcar', '10-waagent-sysext.conf'), 0o644);
  // also wanted, for a start of multi-user.target after the merge (ensure-sysext.service on systemd < 255) to start it
  // in the same transaction; once active, a start of the target again is a no-op and leaves a stopped agent stopped
  link(dir, 'usr/lib/systemd/system/multi-user.target.wants/waagent-sysext.target', '../waagent-sysext.target');
  const release = join(dir, 'usr/lib/extension-release.d/extension-release.waagent');
  mkdirSync(dirname(release), { recursive: true });
  writeFileSync(release, `ID=flatcar\nSYSEXT_LEVEL=${SYSEXT_LEVEL}\nARCHITECTURE=${arch}\n`, { mode: 0o644 });
}

/** A root tree for a family in dir; returns its files, relative to dir. */
function rootTree(dir, binary, family, unitName) {
  rmSync(dir, { recursive: true, force: true });
  const unit = `usr/lib/systemd/system/${unitName}.service`;
  put(dir, 'usr/sbin/waagent', binary, 0o755);
  mkdirSync(dirname(join(dir, unit)), { recursive: true });
  writeFileSync(join(dir, unit), familyUnit(family), { mode: 0o644 });
  // what `systemctl enable` makes, so the unpacked image starts the agent at boot
  link(dir, `etc/systemd/system/multi-user.target.wants/${unitName}.service`, `/${unit}`);
  put(dir, 'etc/waagent.conf', join(INIT, 'conf', `waagent.conf.${family}`), 0o644);
  put(dir, 'etc/logrotate.d/waagent', join(INIT, 'logrotate', 'waagent'), 0o644);
  return [
    'usr/sbin/waagent',
    unit,
    `etc/systemd/system/multi-user.target.wants/${unitName}.service`,
    'etc/waagent.conf',
    'etc/logrotate.d/waagent',
  ];
}

/** packed: also the squashfs images and the root-tree archives; only: the architectures (x64, arm64) just built */
export function buildImageArtifacts({ packed, only = ['x64', 'arm64'] }) {
  const squash = packed && onPath('mksquashfs');
  if (packed && !squash) say('WARNING: mksquashfs not found (apt-get install squashfs-tools): the sysext is made as a directory only');
  const work = join(DIST, '.image');
  for (const { binary, arch, short } of ARCHES) {
    const bin = join(DIST, binary);
    if (!only.includes(short) || !existsSync(bin)) continue;
    const out = join(DIST, `sysext-${arch}`);
    rmSync(out, { recursive: true, force: true });
    sysextTree(join(out, 'waagent'), bin, arch);
    if (squash) {
      // the image's name must be the one in extension-release.<name>: install it as /etc/extensions/waagent.raw
      execFileSync('mksquashfs', [join(out, 'waagent'), join(out, 'waagent.raw'), '-all-root', '-noappend', '-quiet', '-no-progress'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
      });
    }
    say(`dist/sysext-${arch}/waagent${squash ? ' and waagent.raw' : ''} (Flatcar system extension)`);
    if (!packed) continue;
    for (const [family, unitName] of Object.entries(FAMILIES)) {
      const tree = join(work, `${family}-${short}`);
      const files = rootTree(tree, bin, family, unitName);
      // files only (no directory entries): unpacking never replaces a directory symlink such as /lib → usr/lib
      execFileSync('tar', [
        '-C',
        tree,
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '-czf',
        join(DIST, `waagent-root-${family}-${short}.tar.gz`),
        ...files,
      ]);
    }
    say(`dist/waagent-root-{${Object.keys(FAMILIES).join(',')}}-${short}.tar.gz (root trees)`);
  }
  rmSync(work, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    buildImageArtifacts({ packed: true });
  } catch (e) {
    process.stderr.write(`build: ${e.message}\n`);
    process.exit(1);
  }
}
