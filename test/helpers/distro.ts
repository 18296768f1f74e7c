// Distro profiles for tests, from the recorded os-release files in test/fixtures/os-release/ (the agent itself reads
// /etc/os-release once, in main.ts, and passes the profile down).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOsRelease } from '../../src/os/distro.ts';
import { profileFor, type DistroProfile } from '../../src/os/distro-profile.ts';
import { REPO_ROOT } from './paths.ts';

export const OS_RELEASE_FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'os-release');

/** The profile of a fixture: 'debian-12', 'ubuntu-22.04', 'rhel-9.4', 'sles-15-sp5', 'flatcar', 'azurelinux-3.0', … */
export function fixtureProfile(name: string): DistroProfile {
  return profileFor(parseOsRelease(readFileSync(join(OS_RELEASE_FIXTURES, name), 'utf8')));
}
