// src/config: the typed getters. A key the schema gives a default reads as its type (never null); a key whose
// default is None reads as the type or null. The type-level checks are compile errors under `npm run typecheck`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, ConfigValueMissing, parseConfig, libDirOf, type HasDefault } from '../../../src/config/index.ts';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

test('a defaulted key reads as its default when unset, typed without null', () => {
  const c = Config.defaults();
  const lib = c.str('Lib.Dir');
  expectType<Equals<typeof lib, string>>(true);
  assert.equal(lib, '/var/lib/waagent');
  const port = c.int('Protocol.HostGAPluginPort');
  expectType<Equals<typeof port, number>>(true);
  assert.equal(port, 32526);
  const period = c.int('Extensions.InitialGoalStatePeriod');
  expectType<Equals<typeof period, number>>(true);
  assert.equal(period, 6);
  assert.equal(Config.from({ 'Extensions.GoalStatePeriod': 9 }).int('Extensions.InitialGoalStatePeriod'), 9);
  const on = c.bool('Extensions.Enabled');
  expectType<Equals<typeof on, boolean>>(true);
  assert.equal(on, true);
  expectType<HasDefault<'Lib.Dir'>>(true);
});

test('a key without a default reads as null when unset, typed with null', () => {
  const c = Config.defaults();
  const host = c.str('HttpProxy.Host');
  expectType<Equals<typeof host, string | null>>(true);
  assert.equal(host, null);
  const port = c.int('HttpProxy.Port');
  expectType<Equals<typeof port, number | null>>(true);
  assert.equal(port, null);
  expectType<Equals<HasDefault<'DVD.Device'>, false>>(true);
});

test('a configured value wins over the default; None in the file leaves the default', () => {
  const c = parseConfig('Lib.Dir=/srv/agent\nHttpProxy.Host=proxy\nOS.SshDir=None\n', '/etc/waagent.conf');
  assert.equal(c.str('Lib.Dir'), '/srv/agent');
  assert.equal(c.str('HttpProxy.Host'), 'proxy');
  assert.equal(c.str('OS.SshDir'), '/etc/ssh');
});

test('a defaulted key forced to null (Config.from only) is a ConfigValueMissing, not a null', () => {
  const c = Config.from({ 'Lib.Dir': null });
  assert.throws(
    () => c.str('Lib.Dir'),
    (e: unknown) => e instanceof ConfigValueMissing && e.key === 'Lib.Dir' && e.kind === 'config',
  );
  assert.deepEqual(
    c.entries().find(([k]) => k === 'Lib.Dir'),
    ['Lib.Dir', null],
  ); // -show-configuration prints None
});

test('a typo in a key, or a key of another type, does not compile', () => {
  const c = Config.defaults();
  // @ts-expect-error: no such key
  assert.throws(() => c.str('Lib.Dri'));
  // @ts-expect-error: Lib.Dir is a string key
  void (() => c.int('Lib.Dir'));
});

test('libDirOf: Lib.Dir, and an empty one is a configuration error', () => {
  assert.equal(libDirOf(Config.defaults()), '/var/lib/waagent');
  assert.equal(libDirOf(Config.from({ 'Lib.Dir': '/srv/agent' })), '/srv/agent');
  assert.throws(() => libDirOf(Config.from({ 'Lib.Dir': '' })), /Lib\.Dir is not set/);
});
