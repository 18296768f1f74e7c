import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { FIXTURES } from '../../helpers/paths.ts';
import { AgentError, isAgentError } from '../../../src/util/errors.ts';
import {
  buildHealthReport,
  deploymentIdOf,
  isMissingRoleInstance,
  isPfxPackage,
  MAX_DESCRIPTION_CHARS,
  parseCertificates,
  parseExpiration,
  parseGoalState,
  parseHostingEnvironment,
  parseRemoteAccess,
  parseSharedConfig,
  parseVersions,
  supportsWireProtocol,
} from '../../../src/fabric/documents/index.ts';
import { findText, parseXml } from '../../../src/xml/index.ts';

const DATA = join(FIXTURES, 'tests', 'data') + '/';
const read = (p: string): string => readFileSync(DATA + p, 'utf8');
const WS = 'http://168.63.129.16:80/machine/865a6683-91d8-450f-99ae/bc8b9d47%2Db5ed%2D4704%2D85d9%2Dfd74cc967ec2.%5Fcanary';
const HIB1 =
  'http://168.63.129.16:80/machine/06185f00-1f00-4545-abaa-4b7baa121869/8cd0ae53%2D1ac5%2D4fe5%2D9356%2Da4e1a34f234c.%5Ftest%2Dvm';

describe('versions (§2.2)', () => {
  it('wire/version_info.xml', () => {
    const v = parseVersions(read('wire/version_info.xml'));
    assert.deepEqual(v, { preferred: '2012-11-30', supported: ['2010-12-15', '2010-28-10'] });
    assert.equal(supportsWireProtocol(v), true);
  });
  it('2012-11-30 is accepted when only supported, refused when absent', () => {
    assert.equal(supportsWireProtocol({ preferred: '2015-01-01', supported: ['2012-11-30'] }), true);
    assert.equal(supportsWireProtocol({ preferred: '2015-01-01', supported: ['2010-12-15'] }), false);
    assert.equal(supportsWireProtocol(parseVersions('<Versions/>')), false);
  });
});

describe('goal state (§2.4)', () => {
  const base = {
    incarnation: '1',
    containerId: 'c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2',
    roleInstanceId: 'b61f93d0-e1ed-40b2-b067-22c243233448.MachineRole_IN_0',
    configName: 'bc8b9d47-b5ed-4704-85d9-fd74cc967ec2.5.bc8b9d47-b5ed-4704-85d9-fd74cc967ec2.5._canary.1.xml',
    deploymentId: 'bc8b9d47-b5ed-4704-85d9-fd74cc967ec2',
    hostingEnvironmentConfigUrl: `${WS}?comp=config&type=hostingEnvironmentConfig&incarnation=1`,
    sharedConfigUrl: `${WS}?comp=config&type=sharedConfig&incarnation=1`,
    extensionsConfigUrl: `${WS}?comp=config&type=extensionsConfig&incarnation=1`,
    certificatesUrl: `${WS}?comp=certificates&incarnation=1`,
    remoteAccessInfoUrl: null,
  };
  const hib = (n: string, container: string, instance: string) => ({
    incarnation: '1',
    containerId: container,
    roleInstanceId: `${instance}._test-vm`,
    configName: `${instance}.0.${instance}.0._test-vm.1.xml`,
    deploymentId: instance,
    hostingEnvironmentConfigUrl: `${n}?comp=config&type=hostingEnvironmentConfig&incarnation=1`,
    sharedConfigUrl: `${n}?comp=config&type=sharedConfig&incarnation=1`,
    extensionsConfigUrl: `${n}?comp=config&type=extensionsConfig&incarnation=1`,
    certificatesUrl: `${n}?comp=certificates&incarnation=1`,
    remoteAccessInfoUrl: null,
  });
  const HIB2 =
    'http://168.63.129.16:80/machine/6d8baa24-9f00-4f00-8aea-56fbaafee17e/aa40a165%2Df2c9%2D4e19%2D8582%2D1d14d39c4b15.%5Ftest%2Dvm';
  const cases: Array<[string, object]> = [
    ['wire/goal_state.xml', base],
    ['wire/goal_state_no_certs.xml', { ...base, certificatesUrl: null }],
    ['wire/goal_state_no_ext.xml', { ...base, extensionsConfigUrl: null }],
    [
      'wire/goal_state_remote_access.xml',
      {
        ...base,
        // Two ConfigName elements: the first one wins (§2.5); the URL's trailing newline is trimmed (§10 item 5).
        configName: 'b61f93d0-e1ed-40b2-b067-22c243233448.1.b61f93d0-e1ed-40b2-b067-22c243233448.2.MachineRole_IN_0.xml',
        deploymentId: 'b61f93d0-e1ed-40b2-b067-22c243233448',
        remoteAccessInfoUrl: 'http://168.63.129.16:80/remoteaccessinfouri/',
      },
    ],
    ['hibernate/goal_state_1/GoalState.xml', hib(HIB1, '06185f00-1f00-4545-abaa-4b7baa121869', '8cd0ae53-1baa-4f00-9356-a4e1a34f004c')],
    ['hibernate/goal_state_2/GoalState.xml', hib(HIB2, '6d8baa24-9f00-4f00-8aea-56fbaafee17e', 'baa0a165-f009-4e19-8baa-1d14f00c4b15')],
  ];
  for (const [file, expected] of cases) it(file, () => assert.deepEqual(parseGoalState(read(file)), expected));

  it('wire/goal_state_noop.xml: no RoleInstance is a protocol error the caller retries', () => {
    let error: unknown;
    try {
      parseGoalState(read('wire/goal_state_noop.xml'));
    } catch (e) {
      error = e;
    }
    assert.ok(isAgentError(error, 'protocol'));
    assert.equal(error.message, 'the goal state has no RoleInstance');
    assert.equal(error.subkind, 'missing-role-instance');
    assert.deepEqual(
      Object.keys(error.context).sort(),
      ['document', 'incarnation'],
      'the sub-kind is the subkind field, not a context flag',
    );
    assert.equal(isMissingRoleInstance(error), true);
    assert.equal(isMissingRoleInstance(new AgentError('protocol', 'other')), false);
    // the message text decides nothing
    assert.equal(
      isMissingRoleInstance(new AgentError('protocol', 'the goal state has no RoleInstance', { missingRoleInstance: true })),
      false,
    );
    assert.equal(isMissingRoleInstance(new Error('x')), false);
  });

  it('a missing required element is named', () => {
    const noContainerId = read('wire/goal_state.xml').replace(/<ContainerId>[^<]*<\/ContainerId>/, '<ContainerId/>');
    assert.throws(
      () => parseGoalState(noContainerId),
      (e) => isAgentError(e, 'protocol') && e.message === 'the goal state has no ContainerId element (or it is empty)',
    );
    const noShared = read('wire/goal_state.xml').replace(/<SharedConfig>[^<]*<\/SharedConfig>/, '');
    assert.throws(
      () => parseGoalState(noShared),
      (e) => isAgentError(e, 'protocol') && /no SharedConfig element/.test(e.message),
    );
    assert.throws(
      () => parseGoalState('<GoalState><Incarnation>1</Incarnation>'),
      (e) => isAgentError(e, 'xml'),
    );
  });

  it('deployment id is the part of ConfigName before the first dot', () => {
    assert.equal(deploymentIdOf('abc.1.def.xml'), 'abc');
    assert.equal(deploymentIdOf('nodot'), 'nodot');
  });
});

describe('hosting environment config (§2.6)', () => {
  const cases: Array<[string, object]> = [
    ['wire/hosting_env.xml', { vmName: 'MachineRole_IN_0', roleName: 'MachineRole', deploymentName: 'db00a7755a5e4e8a8fe4b19bc3b330c3' }],
    // Real hosts send neither Role nor Deployment.
    ['hibernate/goal_state_1/HostingEnvironmentConfig.xml', { vmName: '_test-vm', roleName: '', deploymentName: '' }],
    ['hibernate/goal_state_2/HostingEnvironmentConfig.xml', { vmName: '_test-vm', roleName: '', deploymentName: '' }],
  ];
  for (const [file, expected] of cases) it(file, () => assert.deepEqual(parseHostingEnvironment(read(file)), expected));
});

describe('shared config (§2.7)', () => {
  const cases: Array<[string, object]> = [
    [
      'wire/shared_config.xml',
      { instances: [{ id: 'MachineRole_IN_0', address: '10.115.153.75', rdmaMacAddress: '', rdmaIPv4Address: '' }] },
    ],
    [
      'hibernate/goal_state_1/SharedConfig.xml',
      { instances: [{ id: '_test-vm', address: '10.1.52.28', rdmaMacAddress: '', rdmaIPv4Address: '' }] },
    ],
    [
      'hibernate/goal_state_2/SharedConfig.xml',
      { instances: [{ id: '_test-vm', address: '10.1.52.28', rdmaMacAddress: '', rdmaIPv4Address: '' }] },
    ],
  ];
  for (const [file, expected] of cases) it(file, () => assert.deepEqual(parseSharedConfig(read(file)), expected));
  it('reads the RDMA attributes', () => {
    const c = parseSharedConfig(
      '<SharedConfig><Instances><Instance id="r" address="10.0.0.4" rdmaMacAddress="00:15:5D:33:FF:1F" rdmaIPv4Address="172.16.1.2"/></Instances></SharedConfig>',
    );
    assert.deepEqual(c.instances[0], { id: 'r', address: '10.0.0.4', rdmaMacAddress: '00:15:5D:33:FF:1F', rdmaIPv4Address: '172.16.1.2' });
  });
});

describe('certificates (§2.8)', () => {
  // [file, incarnation, format, first and last 16 characters of Data, pfx?]
  const cases: Array<[string, string, string | null, string, string, boolean]> = [
    ['wire/certs.xml', '1', 'Pkcs7BlobWithPfxContents', 'MIIOgwYJKoZIhvcN', 'Q0wHe5W0z4=\n', true],
    ['wire/certs_no_format_specified.xml', '1', null, 'MIIOgwYJKoZIhvcN', 'Q0wHe5W0z4=\n', true],
    ['wire/incorrect-certs.xml', '5', 'Pkcs7BlobWithPfxContents', 'MIIOgwYJKoZIhvcN', 'f3IqYvh8ZWexa0=\n', true],
    ['wire/certs_format_not_pfx.xml', '12', 'CertificatesNonPfxPackage', 'NotPFXData', 'NotPFXData', false],
    ['hibernate/goal_state_1/Certificates.xml', '1', 'Pkcs7BlobWithPfxContents', 'MIIOjAYJKoZIhvcN', 'Rrs695Z7PRw=\n', true],
    ['hibernate/goal_state_2/Certificates.xml', '1', 'Pkcs7BlobWithPfxContents', 'MIIOjAYJKoZIhvcN', 'Cr3RlOLY=\n', true],
  ];
  for (const [file, incarnation, format, head, tail, pfx] of cases) {
    it(file, () => {
      const c = parseCertificates(read(file));
      assert.equal(c.incarnation, incarnation);
      assert.equal(c.format, format);
      assert.ok(c.data!.startsWith(head), c.data!.slice(0, 20));
      assert.ok(c.data!.endsWith(tail), c.data!.slice(-20));
      assert.equal(isPfxPackage(c), pfx);
    });
  }
  it('no Data means no certificates, not an error', () => {
    const c = parseCertificates('<CertificateFile><Format>Pkcs7BlobWithPfxContents</Format></CertificateFile>');
    assert.equal(c.data, null);
    assert.equal(isPfxPackage(c), false);
  });
});

describe('remote access (§2.9)', () => {
  const user = (name: string) => ({
    name,
    encryptedPassword: 'encryptedPasswordString',
    expiration: new Date('2019-01-01T00:00:00Z'),
    expirationText: '2019-01-01',
    groups: ['Administrators', 'RemoteDesktopUsers'],
  });
  const cases: Array<[string, string[]]> = [
    ['wire/remote_access_no_accounts.xml', []],
    ['wire/remote_access_single_account.xml', ['testAccount']],
    ['wire/remote_access_two_accounts.xml', ['testAccount1', 'testAccount2']],
    ['wire/remote_access_duplicate_accounts.xml', ['testAccount', 'testAccount']],
    ['wire/remote_access_10_accounts.xml', Array.from({ length: 10 }, (_, i) => `testAccount${i + 1}`)],
  ];
  for (const [file, names] of cases) {
    it(file, () => assert.deepEqual(parseRemoteAccess(read(file)), { incarnation: '1', users: names.map(user) }));
  }
  it('expiration in the platform format, and refusal of impossible dates', () => {
    assert.equal(parseExpiration('Mon, 01 Jan 2024 00:00:00 GMT')!.toISOString(), '2024-01-01T00:00:00.000Z');
    assert.equal(parseExpiration('Thu, 29 Feb 2024 23:59:59 GMT')!.toISOString(), '2024-02-29T23:59:59.000Z');
    assert.equal(parseExpiration('Fri, 30 Feb 2024 00:00:00 GMT'), null);
    assert.equal(parseExpiration('2019-13-01'), null);
    assert.equal(parseExpiration('next week'), null);
    assert.equal(parseExpiration(null), null);
  });
  it('a user without a Name is a protocol error naming it', () => {
    assert.throws(
      () => parseRemoteAccess('<RemoteAccess><Users><User><Password>x</Password></User></Users></RemoteAccess>'),
      (e) => isAgentError(e, 'protocol') && e.message === 'the remote access document has no Name element (or it is empty)',
    );
  });
});

describe('health report (§3.1)', () => {
  const ids = { incarnation: '3', containerId: 'c6d5526c-5ac2', roleInstanceId: 'b61f93d0.MachineRole_IN_0' };
  const head =
    '<?xml version="1.0" encoding="utf-8"?><Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
    '<GoalStateIncarnation>3</GoalStateIncarnation><Container><ContainerId>c6d5526c-5ac2</ContainerId><RoleInstanceList><Role>' +
    '<InstanceId>b61f93d0.MachineRole_IN_0</InstanceId><Health>';
  const tail = '</Health></Role></RoleInstanceList></Container></Health>';

  it('Ready: exact body, no Details', () => {
    assert.equal(buildHealthReport({ ...ids, state: 'Ready' }), `${head}<State>Ready</State>${tail}`);
  });

  it('NotReady with a sub-status: exact body with Details', () => {
    assert.equal(
      buildHealthReport({ ...ids, state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' }),
      `${head}<State>NotReady</State><Details><SubStatus>Provisioning</SubStatus><Description>Starting</Description></Details>${tail}`,
    );
  });

  it('escapes & < > in SubStatus and Description', () => {
    const xml = buildHealthReport({ ...ids, state: 'NotReady', subStatus: 'A&B<C>', description: 'useradd <x> failed & "quoted"' });
    assert.ok(xml.includes('<SubStatus>A&amp;B&lt;C&gt;</SubStatus>'));
    assert.ok(xml.includes('<Description>useradd &lt;x&gt; failed &amp; "quoted"</Description>'));
    const parsed = parseXml(xml, 'health report');
    assert.equal(findText(parsed, 'Description'), 'useradd <x> failed & "quoted"');
  });

  it('truncates the description to 3686 characters BEFORE escaping', () => {
    const long = '&'.repeat(5000);
    const xml = buildHealthReport({ ...ids, state: 'NotReady', subStatus: 'ProvisioningFailed', description: long });
    const description = /<Description>(.*)<\/Description>/.exec(xml)![1]!;
    assert.equal(description, '&amp;'.repeat(MAX_DESCRIPTION_CHARS));
    assert.equal(MAX_DESCRIPTION_CHARS, 3686);
    const exact = 'x'.repeat(3686);
    assert.ok(
      buildHealthReport({ ...ids, state: 'NotReady', subStatus: 's', description: exact }).includes(`<Description>${exact}</Description>`),
    );
  });

  it('Unicode survives, and truncation never splits a character', () => {
    const xml = buildHealthReport({ ...ids, state: 'NotReady', subStatus: 'Échec', description: 'utilisateur « ñ » 😀' });
    assert.ok(xml.includes('<SubStatus>Échec</SubStatus><Description>utilisateur « ñ » 😀</Description>'));
    const emoji = buildHealthReport({ ...ids, state: 'NotReady', subStatus: 's', description: '😀'.repeat(4000) });
    const description = findText(parseXml(emoji, 'health report'), 'Description')!;
    assert.equal(Array.from(description).length, 3686);
    assert.equal(description, '😀'.repeat(3686));
  });
});

describe('fixture coverage', () => {
  // Everything under wire/, hostgaplugin/ and hibernate/ that is not an ExtensionsConfig/vmSettings
  // (documents-extensions.test.ts covers those) is either asserted above or listed here with why not.
  const NOT_A_PLATFORM_DOCUMENT = new Set([
    'hibernate/TransportCert.pem', // key material (crypto/)
    'hibernate/TransportPrivate.pem',
    'hibernate/goal_state_1/Certificates.json', // the agent's own certificate summary (§2.8 step 7)
    'hibernate/goal_state_2/Certificates.json',
    'hostgaplugin/in_vm_artifacts_profile.json', // artifacts profile blob: parsed by the extensions engineer
    'wire/in_vm_artifacts_profile.json',
    'wire/ec-key.pem',
    'wire/ec-key.pub.pem',
    'wire/encrypted.enc',
    'wire/rsa-key.pem',
    'wire/rsa-key.pub.pem',
    'wire/sample.pem',
    'wire/trans_cert',
    'wire/trans_prv',
    'wire/trans_pub',
    'wire/sshd_config', // provisioning
    // Manifests (§5.2): read through the XML layer in xml.test.ts until a manifest parser exists.
    'wire/ga_manifest.xml',
    'wire/ga_manifest_no_upgrade.xml',
    'wire/ga_manifest_no_uris.xml',
    'wire/manifest.xml',
    'wire/manifest_deletion.xml',
    'wire/manifest_vm_access.xml',
  ]);
  const ASSERTED_HERE = [
    'wire/version_info.xml',
    ...['', '_no_certs', '_no_ext', '_noop', '_remote_access'].map((s) => `wire/goal_state${s}.xml`),
    'wire/hosting_env.xml',
    'wire/shared_config.xml',
    'wire/certs.xml',
    'wire/certs_format_not_pfx.xml',
    'wire/certs_no_format_specified.xml',
    'wire/incorrect-certs.xml',
    ...['10_accounts', 'duplicate_accounts', 'no_accounts', 'single_account', 'two_accounts'].map((s) => `wire/remote_access_${s}.xml`),
    ...[1, 2].flatMap((n) =>
      ['GoalState', 'HostingEnvironmentConfig', 'SharedConfig', 'Certificates'].map((d) => `hibernate/goal_state_${n}/${d}.xml`),
    ),
  ];

  it('every recorded document is parsed by its parser or listed as not one', () => {
    const all: string[] = [];
    const walk = (rel: string): void => {
      for (const n of readdirSync(DATA + rel)) {
        const p = `${rel}/${n}`;
        if (statSync(DATA + p).isDirectory()) walk(p);
        else all.push(p);
      }
    };
    for (const d of ['wire', 'hostgaplugin', 'hibernate']) walk(d);
    const rest = all.filter((p) => !/ext_conf|vm_settings|ExtensionsConfig|VmSettings/.test(p) && !NOT_A_PLATFORM_DOCUMENT.has(p));
    assert.deepEqual(rest.sort(), [...ASSERTED_HERE].sort());
  });
});
