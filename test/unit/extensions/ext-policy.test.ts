import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadExtensionPolicy, NO_POLICY, parsePolicy } from '../../../src/extensions/policy.ts';
import { isAgentError } from '../../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'waagent_policy.json');
const PREFIX = `[InvalidPolicyError] Customer-provided policy file ('${path}') is invalid, please correct the following error: `;

function load(text: string | object, enabled = true) {
  writeFileSync(path, typeof text === 'string' ? text : JSON.stringify(text));
  return loadExtensionPolicy({ enabled, path });
}

function invalid(doc: string | object, problem: string | RegExp): void {
  assert.throws(
    () => load(doc),
    (e: unknown) => {
      assert.ok(isAgentError(e, 'extension'), String(e));
      assert.ok(e.message.startsWith(PREFIX), e.message);
      const rest = e.message.slice(PREFIX.length);
      if (typeof problem === 'string') assert.equal(rest, problem);
      else assert.match(rest, problem);
      return true;
    },
  );
}

test('the policy applies only with Debug.EnableExtensionPolicy on and the file present', () => {
  rmSync(path, { force: true });
  assert.equal(loadExtensionPolicy({ enabled: true, path }), NO_POLICY);
  assert.equal(load({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true } }, false), NO_POLICY);
  const p = load({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true } });
  assert.equal(p.enforced, true);
  assert.equal(p.allows('Any.Extension'), false);
  assert.equal(NO_POLICY.allows('Any.Extension'), true);
  assert.equal(NO_POLICY.requiresSignature('Any.Extension'), false);
});

test('defaults: everything allowed, no signature required; the file text is kept for the history', () => {
  const text = '{ "policyVersion": "0.0.1" }';
  const p = load(text);
  assert.equal(p.allows('Microsoft.Azure.Extensions.CustomScript'), true);
  assert.equal(p.requiresSignature('Microsoft.Azure.Extensions.CustomScript'), false);
  assert.equal(p.fileContents, text);
});

test('the allow list matches names case-insensitively; a per-extension signatureRequired wins over the global one', () => {
  const p = load({
    policyVersion: '0.1',
    extensionPolicies: {
      allowListedExtensionsOnly: true,
      signatureRequired: true,
      extensions: {
        'Microsoft.Azure.Extensions.CustomScript': { signatureRequired: false, runtimePolicy: [true, null, { bar: 'baz' }] },
        'Microsoft.OSTCExtensions.VMAccessForLinux': {},
      },
    },
  });
  assert.equal(p.allows('microsoft.azure.extensions.customscript'), true);
  assert.equal(p.allows('Microsoft.OSTCExtensions.VMAccessForLinux'), true);
  assert.equal(p.allows('Microsoft.CPlat.Core.RunCommandLinux'), false);
  assert.equal(p.requiresSignature('Microsoft.Azure.Extensions.CustomScript'), false);
  assert.equal(p.requiresSignature('Microsoft.OSTCExtensions.VMAccessForLinux'), true, 'no rule of its own: the global one');
  assert.equal(p.requiresSignature('Microsoft.CPlat.Core.RunCommandLinux'), true);
});

test('a runtimePolicy may be any JSON value and is kept', () => {
  const doc = parsePolicy({ policyVersion: '0.1.0', extensionPolicies: { extensions: { 'A.B': { runtimePolicy: { x: 1 } } } } }, path);
  assert.deepEqual(doc.extensions.get('a.b'), { runtimePolicy: { x: 1 } });
});

test('invalid JSON, an empty file and a non-object: upstream messages', () => {
  invalid('{ "policyVersion": ', /^policy file does not conform to valid json syntax\. File contents: \{ "policyVersion": \nInner error: /);
  invalid('', /^policy file does not conform to valid json syntax\. File contents: \nInner error: /);
  invalid('[]', 'expected an object describing a Policy; got list.');
  invalid('"0.1.0"', 'expected an object describing a Policy; got str.');
});

test('policyVersion: required, a string, major[.minor[.patch]], at most 0.1.0', () => {
  invalid({}, "missing required attribute 'policyVersion'");
  invalid({ policyVersion: null }, "missing required attribute 'policyVersion'");
  invalid({ policyVersion: 1 }, "invalid type int for attribute 'policyVersion'; must be 'string'");
  invalid(
    { policyVersion: '1.0.0.0' },
    "invalid value for attribute 'policyVersion': '1.0.0.0'; it should be in format 'major[.minor[.patch]]' (e.g., '1', '1.0', '1.0.0')",
  );
  invalid({ policyVersion: 'v1' }, /^invalid value for attribute 'policyVersion': 'v1'/);
  invalid({ policyVersion: '0.1.1' }, "policy version '0.1.1' is not supported. The agent supports policy versions up to '0.1.0'.");
  invalid({ policyVersion: '1' }, "policy version '1' is not supported. The agent supports policy versions up to '0.1.0'.");
  for (const v of ['0', '0.1', '0.0.9', '0.1.0']) assert.equal(load({ policyVersion: v }).enforced, true, v);
});

test('unknown attributes and wrong types at every level', () => {
  invalid({ policyVersion: '0.1.0', extensionPolicy: {} }, "unrecognized attribute 'extensionPolicy' in policy");
  invalid({ policyVersion: '0.1.0', extensionPolicies: [] }, "invalid type list for attribute 'extensionPolicies'; must be 'object'");
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { allowListed: true } },
    "unrecognized attribute 'allowListed' in extensionPolicies",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: 'true' } },
    "invalid type str for attribute 'extensionPolicies.allowListedExtensionsOnly'; must be 'boolean'",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { signatureRequired: 0 } },
    "invalid type int for attribute 'extensionPolicies.signatureRequired'; must be 'boolean'",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { extensions: ['A.B'] } },
    "invalid type list for attribute 'extensionPolicies.extensions'; must be 'object'",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { extensions: { 'A.B': true } } },
    "invalid type bool for attribute 'extensionPolicies.extensions.A.B'; must be 'object'",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { extensions: { 'A.B': { allowed: true } } } },
    "unrecognized attribute 'allowed' in extensionPolicies.extensions.A.B",
  );
  invalid(
    { policyVersion: '0.1.0', extensionPolicies: { extensions: { 'A.B': { signatureRequired: 1.5 } } } },
    "invalid type float for attribute 'extensionPolicies.extensions.A.B.signatureRequired'; must be 'boolean'",
  );
});
