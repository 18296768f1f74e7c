// The image test's root file system: a Debian bookworm minbase made by debootstrap with systemd and sshd, cached as
// a zstd tarball OUTSIDE the repository (the cache key is the content of this recipe), and unpacked afresh for each
// run. The Debian mirror is the one the machine's apt sources use; nothing else is fetched.
//
// `node test/image/rootfs.ts` makes the cache ahead of a test run and prints its path.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE_DIR = process.env.WAAGENT_IMAGE_CACHE ?? '/var/cache/waagent-ts-test';
const SUITE = 'bookworm';
/** debootstrap downloads about 100 MB from the mirror; a mirror that stalls fails the test instead of hanging it */
export const DEBOOTSTRAP_TIMEOUT_MS = 20 * 60_000;
// systemd as init, sshd and the tools the agent runs (useradd, visudo, ip), openssl for the fabric emulator that
// runs inside (its certificate work), procps for pgrep.
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'sudo', 'passwd', 'iproute2', 'openssl', 'procps'];
// Run in the new root after debootstrap: no services the test does not need, nothing that waits for a network or
// a terminal, and a machine-id that systemd makes at first boot (as on a real image).
const SETUP = `set -e
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
`;

/** The cache file for this recipe. */
export function rootfsCachePath(): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ SUITE, PACKAGES, SETUP, v: 1 }))
    .digest('hex')
    .slice(0, 16);
  return join(CACHE_DIR, `rootfs-${key}.tar.zst`);
}

/** The Debian mirror of the machine's apt sources (deb822 or one-line format), else deb.debian.org. */
export function debianMirror(): string {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort())
      if (/\.(list|sources)$/.test(f)) files.push(join('/etc/apt/sources.list.d', f));
  }
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    // one-line: deb [opts] URI SUITE ...
    for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm)) {
      if (m[2] === SUITE && /\/debian\/?$/.test(m[1]!)) return m[1]!;
    }
    // deb822: a stanza with URIs: and Suites: naming the suite
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && /\/debian\/?$/.test(uri) && suites.includes(SUITE)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

function run(argv: string[], what: string, timeoutMs = 5 * 60_000): void {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    throw new Error(`${what} did not finish within ${timeoutMs / 60_000} min (${argv.join(' ')}): ${(r.stderr ?? '').slice(-4000)}`);
  }
  if (r.status !== 0) throw new Error(`${what} failed (${argv.join(' ')}): ${(r.stderr || String(r.error ?? '')).slice(-4000)}`);
}

/** Makes the cached tarball when it is missing (a few minutes, once per recipe); returns its path. */
export function ensureRootfsTarball(log: (line: string) => void = () => {}): string {
  const out = rootfsCachePath();
  if (existsSync(out)) return out;
  for (const tool of ['debootstrap', 'zstd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status !== 0) {
      throw new Error(`the image test needs ${tool}: run scripts/bootstrap.sh`);
    }
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = join(CACHE_DIR, `build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  try {
    const mirror = debianMirror();
    log(`image: debootstrap ${SUITE} from ${mirror} into ${work} (once; cached as ${out})`);
    // in a mount namespace of its own, so the proc and sys mounts debootstrap makes in the new root never show on the host
    run(
      [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'debootstrap',
        '--variant=minbase',
        `--include=${PACKAGES.join(',')}`,
        SUITE,
        join(work, 'root'),
        mirror,
      ],
      'debootstrap',
      DEBOOTSTRAP_TIMEOUT_MS,
    );
    run(
      ['unshare', '--mount', '--propagation', 'private', 'chroot', join(work, 'root'), '/bin/sh', '-c', SETUP],
      'the root file system setup',
    );
    const tmp = `${out}.${process.pid}.tmp`;
    run(['tar', '--zstd', '--numeric-owner', '--xattrs', '-C', join(work, 'root'), '-cf', tmp, '.'], 'tar');
    renameSync(tmp, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Unpacks the cached root file system into dir (which must not exist yet). */
export function unpackRootfs(tarball: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  run(['tar', '--zstd', '--numeric-owner', '--xattrs', '-C', dir, '-xf', tarball], 'unpacking the root file system');
}

if (import.meta.main) {
  console.log(ensureRootfsTarball((l) => console.error(l)));
}
