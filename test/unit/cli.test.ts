// The command line of docs/contract.md §3, through src/cli.ts directly (the built binary: test/e2e/cli-binary.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { USAGE, parseArgs } from '../../src/cli.ts';
import { COMMANDS } from '../../src/commands/invocation.ts';
import { isAgentError } from '../../src/util/errors.ts';

// docs/contract.md §3, written out here so that a command dropped from src/cli.ts is noticed
const DESIGN_COMMANDS = [
  'help',
  'version',
  'daemon',
  'start',
  'provision',
  'run-exthandlers',
  'deprovision',
  'deprovision+user',
  'serialconsole',
  'show-configuration',
  'collect-logs',
  'register-service',
];
const SPELLINGS = (w: string) => [`-${w}`, `--${w}`, `/${w}`];

function usageError(argv: string[], message: RegExp): void {
  assert.throws(
    () => parseArgs(argv),
    (e) => isAgentError(e, 'usage') && e.exitCode === 2 && message.test(e.message),
    argv.join(' '),
  );
}

test('every command of docs/contract.md §3 is known', () => {
  assert.deepEqual(
    DESIGN_COMMANDS.filter((c) => !(COMMANDS as readonly string[]).includes(c)),
    [],
  );
});

test('every command is recognised as -x, --x and /x', () => {
  for (const c of DESIGN_COMMANDS) {
    for (const arg of SPELLINGS(c)) assert.equal(parseArgs([arg]).command, c, arg);
  }
});

test('flags in every spelling, before or after the command', () => {
  for (const v of SPELLINGS('verbose')) assert.equal(parseArgs([v, '-daemon']).verbose, true, v);
  for (const f of SPELLINGS('force')) assert.equal(parseArgs(['-deprovision', f]).force, true, f);
  for (const o of SPELLINGS('once')) assert.equal(parseArgs(['-run-exthandlers', o]).once, true, o);
  for (const f of SPELLINGS('full')) assert.equal(parseArgs(['-collect-logs', f]).full, true, f);
  assert.equal(parseArgs(['-debug', '-version']).verbose, true, "-debug is the Python agent's other name for -verbose");
  const plain = parseArgs(['-daemon']);
  assert.deepEqual(plain, { command: 'daemon', verbose: false, force: false, once: false, full: false, configPath: null });
});

test('-configuration-path:<file> in every spelling (and with "=")', () => {
  for (const p of [...SPELLINGS('configuration-path:/tmp/a.conf'), '-configuration-path=/tmp/a.conf']) {
    const inv = parseArgs(['-show-configuration', p]);
    assert.equal(inv.configPath, '/tmp/a.conf', p);
    assert.equal(inv.command, 'show-configuration');
  }
  assert.equal(parseArgs(['-configuration-path:relative/x.conf']).configPath, 'relative/x.conf');
  usageError(['-configuration-path:'], /needs a file name: -configuration-path:<file>$/);
  usageError(['-configuration-path'], /needs a file name/);
});

test('no arguments means help; -h, -? and -usage are help too', () => {
  assert.equal(parseArgs([]).command, 'help');
  for (const a of ['-h', '-?', '-usage', '/?']) assert.equal(parseArgs([a]).command, 'help', a);
});

test('an unknown command or a lone dash is a usage error; a bare command word works as in the Python agent', () => {
  usageError(['-no-such-command'], /^unknown command or option: -no-such-command$/);
  usageError(['no-such-command'], /^unknown command or option: no-such-command$/);
  assert.equal(parseArgs(['version']).command, 'version');
  assert.equal(parseArgs(['deprovision+user', 'force']).force, true);
  usageError(['-'], /^unknown command or option: -$/);
  usageError(['-Version'], /unknown command or option: -Version/);
});

test('two different commands are a usage error; the same one twice is not', () => {
  usageError(['-daemon', '-provision'], /^two commands given: -daemon and -provision$/);
  usageError(['-version', '--help'], /two commands given/);
  assert.equal(parseArgs(['-version', '--version']).command, 'version');
});

test('the usage text lists every command and flag', () => {
  for (const w of [...DESIGN_COMMANDS, 'verbose', 'force', 'once', 'configuration-path:'])
    assert.match(USAGE, new RegExp(`^  -${w.replace('+', '\\+')}`, 'm'), w);
});

test('-setup-firewall in both spellings upstream has used', () => {
  for (const a of SPELLINGS('setup-firewall=168.63.129.16')) {
    const inv = parseArgs([a]);
    assert.equal(inv.command, 'setup-firewall', a);
    assert.deepEqual(inv.firewall, { dstIp: '168.63.129.16', uid: null });
  }
  const old = parseArgs(['-setup-firewall', '-dst_ip=168.63.129.16', '-uid=0', '-w']);
  assert.equal(old.command, 'setup-firewall');
  assert.deepEqual(old.firewall, { dstIp: '168.63.129.16', uid: 0 });
  assert.deepEqual(parseArgs(['--uid=42', '--wait', '--dst_ip=10.0.0.1', '--setup-firewall']).firewall, { dstIp: '10.0.0.1', uid: 42 });
  assert.deepEqual(parseArgs(['-setup-firewall']).firewall, { dstIp: null, uid: null });
  usageError(['-setup-firewall='], /^the option -setup-firewall= needs the WireServer's IPv4 address/);
  usageError(['-setup-firewall=1.2.3'], /needs the WireServer's IPv4 address/);
  usageError(['-setup-firewall', '-dst_ip=999.0.0.1'], /^the option -dst_ip=999\.0\.0\.1 needs/);
  usageError(['-setup-firewall', '-uid=-1'], /^the option -uid=-1 needs a numeric user id/);
  usageError(['-daemon', '-dst_ip=10.0.0.1'], /^-dst_ip, -uid and -w go only with -setup-firewall$/);
  usageError(['-daemon', '-setup-firewall=10.0.0.1'], /^two commands given: -daemon and -setup-firewall=10\.0\.0\.1$/);
  assert.match(USAGE, /^ {2}-setup-firewall=<IP>/m);
});
