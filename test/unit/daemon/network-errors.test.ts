// upstream's ReportNetworkErrors (src/daemon/telemetry.ts networkErrorsTask, src/fabric/io-error-counter.ts): requests
// that got no answer are counted per endpoint by the one HTTP client and summed every 30 minutes as one HttpErrors event.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Config } from '../../../src/config/index.ts';
import { NETWORK_ERRORS_PERIOD_MS, networkErrorsMessage, networkErrorsTask } from '../../../src/daemon/telemetry.ts';
import { platformEndpoints } from '../../../src/fabric/endpoints.ts';
import { createHttpClient } from '../../../src/fabric/http.ts';
import { takeIoErrors } from '../../../src/fabric/io-error-counter.ts';
import { TelemetryRecorder } from '../../../src/telemetry/recorder.ts';

test('HttpErrors message: upstream buckets (HostGAPlugin, WireServer, other); nothing when there was no error', () => {
  const ep = platformEndpoints(Config.defaults(), '168.63.129.16');
  assert.equal(NETWORK_ERRORS_PERIOD_MS, 30 * 60_000);
  assert.equal(networkErrorsMessage(new Map(), ep), null);
  assert.equal(
    networkErrorsMessage(
      new Map([
        ['168.63.129.16:32526', 2],
        ['168.63.129.16', 3],
        ['169.254.169.254', 1],
        ['md-xyz.blob.core.windows.net', 4],
      ]),
      ep,
    ),
    'hostplugin:2;protocol:3;other:5',
  );
  // before the platform was reached, upstream's known address is assumed
  assert.equal(networkErrorsMessage(new Map([['168.63.129.16:32526', 1]]), null), 'hostplugin:1;protocol:0;other:0');
});

test('HttpErrors: a request refused by a closed port is counted by the HTTP client and sent once, then the count starts again', async () => {
  takeIoErrors();
  // a port that was just free: nothing listens there
  const port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const http = createHttpClient();
  try {
    await assert.rejects(http.request({ url: `http://127.0.0.1:${port}/machine?comp=goalstate`, maxAttempts: 2, retryDelayMs: 1 }));
  } finally {
    await http.close();
  }
  const dir = join(mkdtempSync(join(tmpdir(), 'net-errors-')), 'events');
  const rec = new TelemetryRecorder();
  rec.start(dir);
  const ep = platformEndpoints(Config.from({ 'Protocol.WireServerEndpoint': `127.0.0.1:${port}` }), '168.63.129.16');
  const task = networkErrorsTask(() => ep, rec);
  await task.run();
  await task.run();
  const events = readdirSync(dir).map((n) => {
    const e = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { parameters: Array<{ name: string; value: unknown }> };
    const p = Object.fromEntries(e.parameters.map((x) => [x.name, x.value]));
    return `${p.Operation}|${p.OperationSuccess}|${p.Message}|${p.TaskName}`;
  });
  assert.deepEqual(events, ['HttpErrors|true|hostplugin:0;protocol:2;other:0|MonitorHandler']);
});
