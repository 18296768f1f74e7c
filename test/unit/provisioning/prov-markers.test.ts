import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { decideProvisioner } from '../../../src/provisioning/cloud-init.ts';
import {
  isAgentDisabled,
  provisionedState,
  readProvisionedMarker,
  writeDisableAgent,
  writeProvisionedMarker,
} from '../../../src/provisioning/provisioned-marker.ts';
import { byteSwapUuid, readVmId, vmIdsMatch } from '../../../src/provisioning/vm-id.ts';
import { configOn, fakeTools, rejectsWith, tempRoot } from './prov-helpers.ts';

describe('vm id', () => {
  it('byte-swaps the first three groups (§4.4 example) and back', () => {
    const a = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
    assert.equal(byteSwapUuid(a), '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8');
    assert.equal(byteSwapUuid(byteSwapUuid(a)), a);
  });
  it('matches case-insensitively and in either byte order, and not other ids', () => {
    const a = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
    assert.ok(vmIdsMatch(a, a.toLowerCase()));
    assert.ok(vmIdsMatch(a, '544cdfd0-cb4e-4b4a-9954-5bdf3ed5c3b8'));
    assert.ok(!vmIdsMatch(a, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B9'));
    assert.ok(!vmIdsMatch(a, ''));
    assert.ok(!vmIdsMatch('not-a-uuid', 'not-a-uuid-either'));
  });
  it('rejects a malformed id with a clear error', async () => {
    await rejectsWith(() => byteSwapUuid('xyz'), 'provisioning', /"xyz" is not a UUID/);
  });
  it('reads product_uuid, upper-cased', async () => {
    const root = tempRoot();
    const p = join(root, 'product_uuid');
    writeFileSync(p, 'd0df4c54-4ecb-4a4b-9954-5bdf3ed5c3b8\n');
    assert.equal(await readVmId(p), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
  });
  it('falls back to dmidecode, and fails clearly when neither has an id', async () => {
    const root = tempRoot();
    const tools = fakeTools({ dmidecode: 'echo 11111111-2222-3333-4444-555555555555' });
    assert.equal(await readVmId(join(root, 'missing')), '11111111-2222-3333-4444-555555555555');
    assert.deepEqual(tools.calls(), ['dmidecode --string system-uuid']);
    writeFileSync(join(tools.bin, 'dmidecode'), '#!/bin/sh\necho "# No SMBIOS nor DMI entry point found"\n');
    await rejectsWith(readVmId(join(root, 'missing')), 'provisioning', /cannot read the VM id from .*missing or dmidecode/);
  });
});

describe('provisioned marker and disable_agent', () => {
  it('records the VM id with mode 0644 and recognises it in the other byte order', () => {
    const root = tempRoot();
    const config = configOn(root);
    assert.equal(provisionedState(config, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8'), 'none');
    assert.equal(readProvisionedMarker(config), null);
    writeProvisionedMarker(config, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    const path = join(root, 'lib', 'provisioned');
    assert.equal(readFileSync(path, 'utf8'), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.equal(provisionedState(config, '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8'), 'same-vm');
    assert.equal(provisionedState(config, '00000000-CB4E-4B4A-9954-5BDF3ED5C3B8'), 'other-vm');
  });
  it('an empty marker of an older agent, or an unreadable VM id, counts as this VM (upstream clears nothing then)', () => {
    const root = tempRoot();
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib', 'provisioned'), '');
    assert.equal(provisionedState(configOn(root), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8'), 'same-vm');
    writeFileSync(join(root, 'lib', 'provisioned'), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    assert.equal(provisionedState(configOn(root), ''), 'same-vm');
    assert.equal(provisionedState(configOn(root), '00000000-CB4E-4B4A-9954-5BDF3ED5C3B8'), 'other-vm');
  });
  it('writes an empty disable_agent', () => {
    const root = tempRoot();
    const config = configOn(root);
    assert.equal(isAgentDisabled(config), false);
    writeDisableAgent(config);
    assert.equal(isAgentDisabled(config), true);
    assert.equal(readFileSync(join(root, 'lib', 'disable_agent'), 'utf8'), '');
  });
});

describe('who provisions (§4.1)', () => {
  const enabled = async () => true;
  const notEnabled = async () => false;
  it('follows Provisioning.Agent when it is not auto, without probing', async () => {
    const probe = async () => assert.fail('cloud-init must not be probed');
    for (const a of ['waagent', 'cloud-init', 'disabled'] as const) {
      assert.equal(await decideProvisioner(Config.from({ 'Provisioning.Agent': a, 'Provisioning.Enabled': false }), probe), a);
    }
  });
  it('auto: cloud-init when it is enabled, else waagent', async () => {
    assert.equal(await decideProvisioner(Config.defaults(), enabled), 'cloud-init');
    assert.equal(await decideProvisioner(Config.defaults(), notEnabled), 'waagent');
  });
  it('auto: the legacy switches decide when changed', async () => {
    assert.equal(await decideProvisioner(Config.from({ 'Provisioning.Enabled': false }), enabled), 'disabled');
    assert.equal(
      await decideProvisioner(Config.from({ 'Provisioning.Enabled': false, 'Provisioning.UseCloudInit': true }), notEnabled),
      'cloud-init',
    );
    assert.equal(await decideProvisioner(Config.from({ 'Provisioning.UseCloudInit': true }), notEnabled), 'cloud-init');
  });
  it('rejects an unknown Provisioning.Agent', async () => {
    await rejectsWith(
      decideProvisioner(Config.from({ 'Provisioning.Agent': 'chef' }), enabled),
      'config',
      /Provisioning.Agent=chef is not one of/,
    );
  });
  it('probes systemctl is-enabled cloud-init-local.service, then service cloud-init status', async () => {
    const { isCloudInitEnabled } = await import('../../../src/provisioning/cloud-init.ts');
    const tools = fakeTools({ systemctl: 'echo disabled; exit 1', service: 'exit 3' });
    assert.equal(await isCloudInitEnabled(), false);
    assert.deepEqual(tools.calls(), ['systemctl is-enabled cloud-init-local.service', 'service cloud-init status']);
    writeFileSync(join(tools.bin, 'systemctl'), '#!/bin/sh\necho enabled\n');
    assert.equal(await isCloudInitEnabled(), true);
    writeFileSync(join(tools.bin, 'systemctl'), '#!/bin/sh\nexit 1\n');
    writeFileSync(join(tools.bin, 'service'), '#!/bin/sh\nexit 0\n');
    assert.equal(await isCloudInitEnabled(), true);
  });
});
