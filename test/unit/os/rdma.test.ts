// RDMA setup (docs/protocol.md §8.4): SharedConfig's rdma attributes, the driver-version rule, the write to
// /dev/hvnd_rdma (a temp file stands in for it), dat.conf, the RDMA interface (fake sysfs, fake `ip`), and the
// daemon task that runs once per new SharedConfig.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { rdmaTask } from '../../../src/daemon/rdma-task.ts';
import { formatRdmaMac, rdmaAddress } from '../../../src/fabric/documents/index.ts';
import {
  datConfWithAddress,
  deviceConfigLine,
  driverTakesDeviceConfig,
  driverVersion,
  interfaceByMac,
  parseDriverVersion,
  rdmaEnabled,
  setupRdma,
} from '../../../src/os/rdma.ts';
import { FIXTURES, REPO_ROOT } from '../../helpers/paths.ts';
import { fakeTools, rejectsWith, tempRoot } from '../provisioning/prov-helpers.ts';

const RDMA_XML = readFileSync(join(REPO_ROOT, 'test/fixtures/rdma/SharedConfig.xml'), 'utf8');
const PLAIN_XML = readFileSync(join(FIXTURES, 'tests/data/wire/shared_config.xml'), 'utf8');
const LINE = 'rdmaMacAddress="00:15:5D:33:FF:1D" rdmaIPv4Address="172.16.1.4"';
const MODINFO =
  'filename:       /lib/modules/5.15.0/updates/hv_network_direct.ko\nversion:        4.2.1.0\nlicense:        GPL\nsrcversion:     7A1B2C3D4E5F\nvermagic:       5.15.0-1057-azure SMP mod_unload\n';
const DAT_CONF =
  'ofa-v2-mlx4_0-1 u2.0 nonthreadsafe default libdaplofa.so.2 dapl.2.0 "mlx4_0 1" ""\nofa-v2-ib0 u2.0 nonthreadsafe default libdaplofa.so.2 dapl.2.0 "0.0.0.0 0" ""\n';

// every test's fake machine: a device stand-in, sysfs with the driver version and net interfaces, a dat.conf
function machine(driver: string | null, opts: { device?: boolean; macOn?: string } = {}) {
  const root = tempRoot();
  const device = join(root, 'dev', 'hvnd_rdma');
  mkdirSync(join(root, 'dev'));
  if (opts.device ?? true) writeFileSync(device, '');
  const sysModuleDir = join(root, 'sys', 'module');
  mkdirSync(join(sysModuleDir, 'hv_network_direct'), { recursive: true });
  if (driver !== null) writeFileSync(join(sysModuleDir, 'hv_network_direct', 'version'), driver + '\n');
  const sysClassNet = join(root, 'sys', 'class', 'net');
  for (const [name, mac] of [
    ['eth0', '00:0d:3a:6e:4a:2b'],
    ['lo', '00:00:00:00:00:00'],
    ...(opts.macOn ? [[opts.macOn, '00:15:5d:33:ff:1d']] : []),
  ] as const) {
    mkdirSync(join(sysClassNet, name), { recursive: true });
    writeFileSync(join(sysClassNet, name, 'address'), mac + '\n');
  }
  const datConf = join(root, 'etc', 'rdma', 'dat.conf');
  mkdirSync(join(root, 'etc', 'rdma'), { recursive: true });
  writeFileSync(datConf, DAT_CONF);
  const options = { device, sysModuleDir, sysClassNet, datConfPaths: [join(root, 'etc', 'dat.conf'), datConf] };
  return { root, device, datConf, options };
}

describe('RDMA settings from SharedConfig (§2.7)', () => {
  it('reads the first Instance and adds colons to the MAC', () => {
    assert.deepEqual(rdmaAddress(RDMA_XML), { ipv4: '172.16.1.4', mac: '00:15:5D:33:FF:1D' });
    assert.equal(deviceConfigLine(rdmaAddress(RDMA_XML)), LINE);
    assert.equal(formatRdmaMac('00-15-5d-33-ff-1d'), '00:15:5d:33:ff:1d');
  });

  it('names what is missing or malformed in one sentence', async () => {
    await rejectsWith(
      () => rdmaAddress(PLAIN_XML),
      'protocol',
      /^the Instance MachineRole_IN_0 in SharedConfig has no rdmaIPv4Address or rdmaMacAddress attribute$/,
    );
    await rejectsWith(() => rdmaAddress('<SharedConfig><Instances/></SharedConfig>'), 'protocol', /^SharedConfig has no Instance element/);
    await rejectsWith(
      () => rdmaAddress(RDMA_XML.replace('00155D33FF1D', '00155D33FF')),
      'protocol',
      /^the rdmaMacAddress "00155D33FF" in SharedConfig is not a MAC address$/,
    );
    await rejectsWith(
      () => rdmaAddress(RDMA_XML.replace('172.16.1.4', 'ten')),
      'protocol',
      /^the rdmaIPv4Address "ten" in SharedConfig is not an IPv4 address$/,
    );
  });

  it('is on with any of the three RDMA keys', () => {
    assert.equal(rdmaEnabled(Config.from({})), false);
    for (const k of ['OS.EnableRDMA', 'OS.UpdateRdmaDriver', 'OS.CheckRdmaDriver'] as const)
      assert.equal(rdmaEnabled(Config.from({ [k]: true })), true);
  });
});

describe('driver version (§8.4: no device write on 4.1 and later)', () => {
  it('parses sysfs and modinfo text', () => {
    assert.deepEqual(parseDriverVersion('4.0.3\n'), [4, 0]);
    assert.deepEqual(parseDriverVersion(MODINFO), [4, 2]);
    assert.equal(parseDriverVersion('filename: x\nsrcversion: 1.2\n'), null);
    assert.equal(parseDriverVersion(''), null);
  });

  it('writes the device below 4.1, and when the version is unknown', () => {
    assert.equal(driverTakesDeviceConfig([4, 0]), true);
    assert.equal(driverTakesDeviceConfig([3, 9]), true);
    assert.equal(driverTakesDeviceConfig(null), true);
    assert.equal(driverTakesDeviceConfig([4, 1]), false);
    assert.equal(driverTakesDeviceConfig([5, 0]), false);
  });

  it('asks modinfo when sysfs has no version', async () => {
    const root = tempRoot();
    const tools = fakeTools({ modinfo: `printf '%s' '${MODINFO}'` });
    assert.deepEqual(await driverVersion(join(root, 'sys', 'module')), [4, 2]);
    assert.deepEqual(tools.calls(), ['modinfo hv_network_direct']);
  });
});

describe('setting RDMA up', () => {
  it('driver 4.0: writes the device, dat.conf and brings the RDMA interface up with the address', async () => {
    const m = machine('4.0.3', { macOn: 'eth1' });
    const tools = fakeTools({ ip: '' });
    const r = await setupRdma(rdmaAddress(RDMA_XML), m.options);
    assert.deepEqual(r, {
      settings: { ipv4: '172.16.1.4', mac: '00:15:5D:33:FF:1D' },
      device: 'written',
      datConf: m.datConf,
      iface: 'eth1',
    });
    assert.equal(readFileSync(m.device, 'utf8'), LINE);
    assert.equal(readFileSync(m.datConf, 'utf8'), DAT_CONF.replace('"0.0.0.0 0"', '"172.16.1.4 0"'));
    assert.deepEqual(tools.calls(), ['ip link set eth1 up', 'ip addr replace 172.16.1.4/16 dev eth1']);
  });

  it('driver 4.1 or later: the device is left alone', async () => {
    const m = machine('4.1.0');
    const r = await setupRdma(rdmaAddress(RDMA_XML), m.options);
    assert.equal(r.device, 'skipped-driver-4.1');
    assert.equal(r.iface, null);
    assert.equal(readFileSync(m.device, 'utf8'), '');
  });

  it('no /dev/hvnd_rdma: nothing is written to it, dat.conf still gets the address', async () => {
    const m = machine(null, { device: false });
    const r = await setupRdma(rdmaAddress(RDMA_XML), m.options);
    assert.equal(r.device, 'no-device');
    assert.equal(r.datConf, m.datConf);
    assert.match(readFileSync(m.datConf, 'utf8'), /"172\.16\.1\.4 0"/);
  });

  it('edits only the ib0 DAPL line and finds interfaces by MAC case-insensitively', () => {
    assert.equal(datConfWithAddress(DAT_CONF, '10.1.2.3'), DAT_CONF.replace('"0.0.0.0 0"', '"10.1.2.3 0"'));
    assert.equal(datConfWithAddress('nothing here\n', '10.1.2.3'), 'nothing here\n');
    const m = machine(null, { macOn: 'ib0' });
    assert.equal(interfaceByMac('00:15:5D:33:FF:1D', m.options.sysClassNet), 'ib0');
    assert.equal(interfaceByMac('02:00:00:00:00:01', m.options.sysClassNet), null);
    assert.equal(interfaceByMac('00:15:5D:33:FF:1D', join(m.root, 'missing')), null);
  });
});

describe('the daemon task: once per new SharedConfig', () => {
  it('sets up on the first SharedConfig, not again for the same one, again for a new one; a bad one fails once', async () => {
    const m = machine('4.0.0');
    const lib = join(m.root, 'lib');
    const task = rdmaTask(Config.from({ 'Lib.Dir': lib, 'OS.EnableRDMA': true }), m.options);
    await task.run(); // no goal state yet
    assert.equal(readFileSync(m.device, 'utf8'), '');
    mkdirSync(lib);
    writeFileSync(join(lib, 'SharedConfig.xml'), RDMA_XML);
    await task.run();
    assert.equal(readFileSync(m.device, 'utf8'), LINE);
    writeFileSync(m.device, '');
    await task.run();
    assert.equal(readFileSync(m.device, 'utf8'), '', 'the same SharedConfig is not applied twice');
    writeFileSync(join(lib, 'SharedConfig.xml'), RDMA_XML.replace('172.16.1.4', '172.16.1.5'));
    await task.run();
    assert.equal(readFileSync(m.device, 'utf8'), LINE.replace('172.16.1.4', '172.16.1.5'));
    writeFileSync(join(lib, 'SharedConfig.xml'), PLAIN_XML);
    await rejectsWith(
      () => task.run(),
      'command',
      /^RDMA setup from .*SharedConfig\.xml failed: .*has no rdmaIPv4Address or rdmaMacAddress attribute/,
    );
    await task.run(); // the same bad document is not retried
  });
});
