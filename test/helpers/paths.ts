// Paths every test uses: the repository root and the built artifacts.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = process.env.WAAGENT_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
export const DIST = join(REPO_ROOT, 'dist');
export const BINARY_X64 = join(DIST, 'waagent');
export const BINARY_ARM64 = join(DIST, 'waagent-linux-arm64');
export const BUNDLE = join(DIST, 'waagent.js');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'walinuxagent');
