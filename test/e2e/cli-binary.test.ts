// The command line of docs/contract.md §3 through the built binary: exit codes and streams, with an empty environment
// (src/cli.ts directly: test/unit/cli.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { USAGE } from '../../src/cli.ts';
import { BINARY_X64 } from '../helpers/paths.ts';

const SPELLINGS = (w: string) => [`-${w}`, `--${w}`, `/${w}`];

function waagent(...args: string[]) {
  return spawnSync('env', ['-i', BINARY_X64, ...args], { encoding: 'utf8', timeout: 30_000 });
}

test('binary: -help, --help and /help print the usage on stdout and exit 0', () => {
  for (const h of SPELLINGS('help')) {
    const r = waagent(h);
    assert.equal(r.status, 0, h);
    assert.equal(r.stdout, USAGE);
    assert.equal(r.stderr, '');
  }
});

test('binary: an unknown command exits 2 with the reason and the usage on stderr', () => {
  const r = waagent('--frobnicate');
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `waagent: unknown command or option: --frobnicate\n${USAGE}`);
});

test('binary: two commands exit 2', () => {
  const r = waagent('-version', '-show-configuration');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^waagent: two commands given: -version and -show-configuration\n/);
});

test('binary: -version and -show-configuration need no PATH; a missing -configuration-path file exits 2', () => {
  assert.equal(waagent('/version').status, 0);
  const r = waagent('-show-configuration', '--configuration-path:/nonexistent/waagent.conf');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'waagent: the configuration file /nonexistent/waagent.conf does not exist\n');
});
