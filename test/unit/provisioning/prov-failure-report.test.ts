// A provisioning failure as data: the error's kind, sentence and context reach the health report's description and
// the KVP PROVISIONING_REPORT's supporting data, and no secret does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AgentError } from '../../../src/util/errors.ts';
import type { HealthReport } from '../../../src/fabric/documents/health-report.ts';
import type { FullGoalState } from '../../../src/fabric/goal-state.ts';
import type { PlatformSession } from '../../../src/fabric/session.ts';
import { log, type LogSink } from '../../../src/log/logger.ts';
import { registerSecret } from '../../../src/log/redact.ts';
import { describeFailure, failureReport } from '../../../src/provisioning/failure-report.ts';
import { decodeRecords } from '../../../src/provisioning/kvp.ts';
import { createReporter } from '../../../src/provisioning/reporter.ts';
import { tempRoot } from './prov-helpers.ts';

const VM = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const GS = { incarnation: '7', containerId: 'c-1', roleInstanceId: 'r-1' } as FullGoalState;

/** A session whose WireServer records the health reports it is sent. */
function fakeSession(): { session: PlatformSession; reports: HealthReport[] } {
  const reports: HealthReport[] = [];
  const wire = { reportHealth: async (r: HealthReport) => void reports.push(r) };
  return { session: { wire } as unknown as PlatformSession, reports };
}

async function reportFailure(error: AgentError, session: PlatformSession | null = null) {
  const pool = join(tempRoot(), '.kvp_pool_1');
  const lines: string[] = [];
  const sink: LogSink = { write: (l) => lines.push(l) };
  log.addSink(sink, 'VERBOSE');
  try {
    await createReporter({ poolPath: pool, bootTime: new Date(0) }).failed(session, session ? GS : null, error, VM);
  } finally {
    log.reset();
  }
  const kvp = decodeRecords(readFileSync(pool));
  assert.equal(kvp.length, 1);
  assert.equal(kvp[0]!.key, 'PROVISIONING_REPORT');
  return { kvp: kvp[0]!.value, log: lines.join('\n') };
}

const sshdFailed = () =>
  new AgentError('command', 'sshd could not be started with the new host keys: systemctl start ssh.service exited 1', {
    unit: 'ssh.service',
    stderr: 'Job for ssh.service failed because the control process exited with error code.',
  });

describe('a provisioning failure as data', () => {
  it('the supporting data: kind, subkind, then the context in order; empty values left out', () => {
    const r = failureReport(
      new AgentError(
        'provisioning',
        'the UDF data lies past the end',
        { device: '/dev/sr0', offset: 4096, size: null, note: '' },
        undefined,
        'past-end',
      ),
    );
    assert.equal(r.reason, 'the UDF data lies past the end');
    assert.deepEqual(r.supportingData, [
      ['kind', 'provisioning'],
      ['subkind', 'past-end'],
      ['device', '/dev/sr0'],
      ['offset', '4096'],
    ]);
    assert.equal(describeFailure(r), 'the UDF data lies past the end [kind=provisioning; subkind=past-end; device=/dev/sr0; offset=4096]');
  });

  it('a thrown value that is not an AgentError is reported as unexpected, with its errno', () => {
    const e = Object.assign(new Error("EACCES: permission denied, open '/etc/x'"), { code: 'EACCES', syscall: 'open' });
    assert.deepEqual(failureReport(e).supportingData, [
      ['kind', 'unexpected'],
      ['errno', 'EACCES'],
      ['syscall', 'open'],
    ]);
    assert.deepEqual(failureReport('boom'), { reason: 'boom', supportingData: [['kind', 'unexpected']] });
  });

  it('the health report: NotReady/ProvisioningFailed, the sentence first, then kind and context', async () => {
    const { session, reports } = fakeSession();
    const out = await reportFailure(sshdFailed(), session);
    assert.equal(reports.length, 1);
    const h = reports[0]!;
    assert.deepEqual(
      [h.state, h.subStatus, h.incarnation, h.containerId, h.roleInstanceId],
      ['NotReady', 'ProvisioningFailed', '7', 'c-1', 'r-1'],
    );
    assert.equal(
      h.description,
      'sshd could not be started with the new host keys: systemctl start ssh.service exited 1 ' +
        '[kind=command; unit=ssh.service; stderr=Job for ssh.service failed because the control process exited with error code.]',
    );
    assert.match(
      out.kvp,
      /^result=error\|reason=sshd could not be started with the new host keys: systemctl start ssh\.service exited 1\|agent=waagent-ts\/[^|]+\|kind=command\|unit=ssh\.service\|stderr=Job for ssh\.service failed because the control process exited with error code\.\|pps_type=None\|vm_id=D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8\|timestamp=[^|]+\|documentation_url=https:\/\/aka\.ms\/linuxprovisioningerror$/,
    );
  });

  it('without a WireServer the KVP record still carries the kind and context, and the log says so', async () => {
    const out = await reportFailure(
      new AgentError('http', 'GET http://127.0.0.1:9/?comp=versions failed: connect ECONNREFUSED', {
        url: 'http://127.0.0.1:9/?comp=versions',
        status: 0,
        attempts: 3,
      }),
    );
    assert.match(
      out.kvp,
      /^result=error\|reason=GET http:\/\/127\.0\.0\.1:9\/\?comp=versions failed: connect ECONNREFUSED\|agent=[^|]+\|kind=http\|url=http:\/\/127\.0\.0\.1:9\/\?comp=versions\|status=0\|attempts=3\|pps_type=None\|/,
    );
    assert.match(out.log, /provisioning failed and could not be reported to the WireServer: GET http:\/\/127\.0\.0\.1:9/);
  });

  it('secrets never appear: a provisioned password and its hash, a SAS token, a field named after a secret', async () => {
    const password = 'Hunter2-secret!';
    const hash = '$6$saltsalt$HASHVALUEHASHVALUE';
    registerSecret(password); // as setUserPassword does for both
    registerSecret(hash);
    const error = new AgentError(
      'provisioning',
      `cannot set the password of alice: chpasswd said "${password}" is weak; blob https://acct.blob.core.windows.net/c/s?sv=2020-08-04&sig=SASSIGNATURE42`,
      {
        user: 'alice',
        url: 'https://acct.blob.core.windows.net/c/s?sv=2020-08-04&se=2030-01-01&sig=SASSIGNATURE42',
        adminPassword: 'NotRegisteredButNamed1',
        token: 'opaque-bearer-token',
        command: `usermod -p ${hash} alice`,
      },
    );
    const { session, reports } = fakeSession();
    const out = await reportFailure(error, session);
    // the health description, the KVP record, and the log line provision.ts writes
    const seen = [reports[0]!.description!, out.kvp, describeFailure(failureReport(error))];
    for (const text of seen) {
      for (const secret of [password, 'HASHVALUE', 'SASSIGNATURE42', '2020-08-04', 'NotRegisteredButNamed1', 'opaque-bearer-token'])
        assert.ok(!text.includes(secret), `${secret} in: ${text}`);
      assert.match(text, /REDACTED/);
    }
    // what is not secret still arrives
    const R = '\\*\\*\\*REDACTED\\*\\*\\*';
    assert.match(
      out.kvp,
      new RegExp(
        `\\|kind=provisioning\\|user=alice\\|url=https://acct\\.blob\\.core\\.windows\\.net/c/s\\?sv=${R}&se=${R}&sig=${R}\\|adminPassword=${R}\\|token=${R}\\|command=usermod -p ${R} alice\\|pps_type=None\\|`,
      ),
    );
    assert.match(reports[0]!.description!, /^cannot set the password of alice: chpasswd said "\*\*\*REDACTED\*\*\*" is weak; /);
  });

  it('a failed health report is logged with the reason; the KVP record is written first', async () => {
    const wire = {
      reportHealth: async () => {
        throw new AgentError('http', 'POST /machine?comp=health failed: HTTP 500');
      },
    };
    const out = await reportFailure(sshdFailed(), { wire } as unknown as PlatformSession);
    assert.match(out.kvp, /^result=error\|reason=sshd could not be started/);
    assert.match(
      out.log,
      /provisioning failed \(sshd could not be started with the new host keys: .*\), and reporting it failed too: POST \/machine\?comp=health failed: HTTP 500/,
    );
  });
});
