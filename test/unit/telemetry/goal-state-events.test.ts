// The goal-state cycle's telemetry (src/extensions/goal-state-events.ts, the recorder's bounds in
// src/telemetry/recorder.ts): upstream 2.15's operations and messages, and the limits on repeated failures — three
// fetch errors at once then one per 6 hours, ReportStatus only when its outcome changes (across a restart too),
// "Failed to report vm agent status" at most every 15 minutes and ReportStatusExtended after 15 minutes of failures.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GoalStateEvents } from '../../../src/extensions/goal-state-events.ts';
import { ExtHandlerCycle } from '../../../src/extensions/lifecycle/cycle.ts';
import { fromExtensionsConfig } from '../../../src/extensions/lifecycle/source.ts';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.ts';
import { readQueuedEvents } from '../../helpers/telemetry-queue.ts';

const queued = readQueuedEvents;

function setup() {
  const lib = mkdtempSync(join(tmpdir(), 'gs-events-'));
  const dir = join(lib, 'events');
  let now = Date.UTC(2026, 11, 2, 12, 0, 0);
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rec = new TelemetryRecorder(clock.now);
  rec.start(dir);
  return { lib, dir, clock, rec, events: new GoalStateEvents(rec, clock.now) };
}

const MINUTE = 60_000;

test('fetch errors: the first 3 in a row at once, then one per 6 hours while it keeps failing, then "recovered"', () => {
  const { dir, clock, events, rec } = setup();
  for (let i = 0; i < 120; i++) {
    events.fetchFailed(new Error('connect ECONNREFUSED 127.0.0.1:80'));
    clock.advance(MINUTE);
  }
  let ops = queued(dir).map((e) => `${e.params.Operation}|${e.params.OperationSuccess}|${String(e.params.Message).split(':')[0]}`);
  assert.deepEqual(ops, [
    'FetchGoalState|false|Error fetching the goal state',
    'FetchGoalState|false|Error fetching the goal state',
    'FetchGoalState|false|Error fetching the goal state',
    'FetchGoalState|false|Fetching the goal state is still failing',
  ]);
  assert.equal(rec.takeGoalStateErrors(), 120, "every error counts for the heartbeat's UpdateGSErrors");
  assert.equal(rec.takeGoalStateErrors(), 0, 'counted again from zero after each heartbeat');
  // two hours of failures so far; the next report is 6 hours after the 4th failure (minute 3)
  clock.advance(4 * 60 * MINUTE + 2 * MINUTE);
  events.fetchFailed(new Error('still down'));
  assert.equal(queued(dir).length, 4, 'a minute short of 6 hours');
  clock.advance(MINUTE);
  events.fetchFailed(new Error('still down'));
  assert.equal(queued(dir).length, 5);
  events.fetchFailed(new Error('still down'));
  assert.equal(queued(dir).length, 5, 'once per 6 hours');
  events.fetched('incarnation_7', "[{'thumbprint': 'ABC', 'hasPrivateKey': True}]");
  events.fetched('incarnation_7', '[]');
  const all = queued(dir);
  assert.equal(all.length, 6, 'recovered once');
  assert.equal(
    all[5]!.params.Message,
    "Fetching the goal state recovered from previous errors. Fetched incarnation_7 (certificates: [{'thumbprint': 'ABC', 'hasPrivateKey': True}])",
  );
  assert.equal(all[5]!.params.OperationSuccess, true);
  // after recovery, a new failure is reported at once again
  events.fetchFailed(new Error('down again'));
  ops = queued(dir).map((e) => String(e.params.Message));
  assert.match(ops[6]!, /^Error fetching the goal state: down again/);
});

test('status report failures every minute for 40 minutes: the failure every 15 minutes, ReportStatusExtended after 15 minutes of failures', () => {
  const { dir, clock, events } = setup();
  for (let i = 0; i < 40; i++) {
    events.statusFailed(new Error('failed to upload the status blob via either channel'));
    clock.advance(MINUTE);
  }
  const e = queued(dir);
  const failed = e.filter((x) => x.params.Operation === 'ExtensionProcessing');
  const extended = e.filter((x) => x.params.Operation === 'ReportStatusExtended');
  assert.equal(failed.length, 3, 'at 0, 15 and 30 minutes');
  assert.equal(failed[0]!.params.Message, 'Failed to report vm agent status: failed to upload the status blob via either channel');
  assert.equal(extended.length, 2, 'at 15 and 31 minutes (the error state restarts after each)');
  assert.equal(extended[0]!.params.Message, 'Failed to report vm agent status for more than 0:15:00');
  // a success ends the run of failures: the next failure starts 15 new minutes
  events.statusReported();
  events.statusFailed(new Error('x'));
  clock.advance(14 * MINUTE);
  events.statusFailed(new Error('x'));
  assert.equal(queued(dir).filter((x) => x.params.Operation === 'ReportStatusExtended').length, 2);
});

test('ReportStatus events are sent when their outcome changes, remembered across a restart in event_status.json', () => {
  const { lib, dir, clock, rec, events } = setup();
  for (let i = 0; i < 5; i++) {
    events.statusUploadEvent('Falling back to direct upload: the HostGAPlugin answered 500', true);
    clock.advance(20 * MINUTE);
  }
  assert.equal(queued(dir).length, 1);
  assert.deepEqual(JSON.parse(readFileSync(join(lib, 'event_status.json'), 'utf8')), { 'WALinuxAgent-2.15.0.1-ReportStatus': true });
  // the agent restarts: the same outcome is not sent again
  const again = new TelemetryRecorder(clock.now);
  again.start(dir);
  new GoalStateEvents(again, clock.now).statusUploadEvent('Falling back to direct upload: the HostGAPlugin answered 500', true);
  assert.equal(queued(dir).length, 1);
  events.statusUploadEvent('Exception uploading status blob: PUT answered 403', false);
  const e = queued(dir);
  assert.equal(e.length, 2);
  assert.equal(e[1]!.params.Operation, 'ReportStatus');
  assert.equal(e[1]!.params.OperationSuccess, false);
  void rec;
});

test('both status routes failing every cycle: the alternating ReportStatus events are each held to once per 15 minutes', () => {
  const { dir, clock, events } = setup();
  for (let i = 0; i < 60; i++) {
    events.statusUploadEvent('Falling back to direct upload: 500', true);
    events.statusUploadEvent('Exception uploading status blob: 403', false);
    clock.advance(MINUTE);
  }
  const n = queued(dir).filter((x) => x.params.Operation === 'ReportStatus').length;
  assert.equal(n, 8, 'two per 15 minutes in an hour');
});

test('addPeriodic: the same event once per period; a different message is its own event', () => {
  const { dir, clock, rec } = setup();
  const ev = (message: string) => ({ op: 'HttpErrors', isSuccess: false, message });
  assert.ok(rec.addPeriodic(3_600_000, ev('a'), { logEvent: false }));
  assert.equal(rec.addPeriodic(3_600_000, ev('a'), { logEvent: false }), null);
  assert.ok(rec.addPeriodic(3_600_000, ev('b'), { logEvent: false }));
  clock.advance(3_600_000);
  assert.ok(rec.addPeriodic(3_600_000, ev('a'), { logEvent: false }));
  assert.equal(queued(dir).length, 3);
});

test('log lines as events: off unless forced (upstream SEND_LOGS_TO_TELEMETRY = False); a forced one is a "Log" event of the generic-logs table', () => {
  const { dir, rec } = setup();
  assert.equal(rec.addLogEvent('WARNING', 'an ordinary warning'), null);
  assert.equal(queued(dir).length, 0);
  assert.ok(rec.addLogEvent('WARNING', '2026-12-02T12:00:00.000000Z WARNING ExtHandler Reached max count for the extension: X', true));
  const [e] = queued(dir);
  assert.equal(e!.eventId, 7);
  assert.equal(e!.providerId, 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F');
  assert.equal(e!.params.EventName, 'Log');
  assert.equal(e!.params.CapabilityUsed, 'WARNING');
  assert.equal(e!.params.Context1, 'ExtHandler Reached max count for the extension: X', 'the timestamp and level stripped');
  assert.match(String(e!.params.Context2), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.equal(e!.params.Context3, '');
  assert.equal(e!.params.GAVersion, 'WALinuxAgent-2.15.0.1');
  assert.equal('ExtensionType' in e!.params, false, 'only the agent/extension table has ExtensionType and IsInternal');
  // the gate, turned on, lets ordinary lines through as upstream would
  assert.ok(rec.addLogEvent('ERROR', 'an error', false, true));
});

test('the cycle: a new goal state is "started" and "completed" with its duration; a fetch error and a failed status are reported', async () => {
  const { dir, events } = setup();
  const ec = fromExtensionsConfig('5', null);
  let fail = false;
  const cycle = new ExtHandlerCycle({
    events,
    fetch: async () => {
      if (fail) throw new Error('the WireServer answered 500');
      return { fabric: ec, vmSettings: null, fabricStatusBlob: null };
    },
    process: async (gs) => {
      await new Promise((r) => setTimeout(r, 20));
      return {
        outcome: {
          status: 'Success',
          code: 0,
          message: 'GoalState executed successfully',
          inSvdSeqNo: gs.inSvdSeqNo,
          timestamp: new Date(0),
        },
        handlers: [],
      };
    },
    report: async () => {
      if (fail) throw new Error('both channels failed');
    },
  });
  assert.equal(await cycle.iterate(), true);
  assert.equal(await cycle.iterate(), true, 'the same goal state again: nothing more');
  fail = true;
  assert.equal(await cycle.iterate(), false);
  const e = queued(dir).map((x) => x.params);
  assert.equal(e.length, 4, JSON.stringify(e.map((x) => x.Message)));
  assert.equal(e[0]!.Operation, 'ExtensionProcessing');
  assert.match(
    String(e[0]!.Message),
    /^ProcessExtensionsGoalState started \[incarnation_5 channel: WireServer source: Fabric activity: 0{8}-/,
  );
  assert.equal(e[1]!.Operation, 'ExtensionProcessing');
  assert.equal(e[1]!.OperationSuccess, true);
  assert.match(String(e[1]!.Message), /^ProcessExtensionsGoalState completed \[incarnation_5 \d+ ms\]\n$/);
  assert.ok(Number(e[1]!.Duration) >= 15, `duration ${e[1]!.Duration}`);
  assert.equal(e[2]!.Operation, 'FetchGoalState');
  assert.equal(e[2]!.Message, 'Error fetching the goal state: the WireServer answered 500');
  assert.equal(e[3]!.Operation, 'ExtensionProcessing');
  assert.equal(e[3]!.Message, 'Failed to report vm agent status: both channels failed');
});
