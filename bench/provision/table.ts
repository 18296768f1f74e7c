// The provisioning benchmark's figures: medians and the printed table (ratios against our agent, measured in the
// same run, as bench/run.mjs prints them against its baseline).
import type { AgentKind, RunResult } from './measure.ts';

export const LABELS: Record<AgentKind, string> = {
  ours: 'dist/waagent -provision',
  python: 'Python waagent -daemon (as packaged)',
  'python-stubbed': 'Python waagent -daemon (ifup stubbed)',
  'ours-before': 'before: $BENCH_WAAGENT_BEFORE',
};

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('the median of no values is undefined');
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export interface Summary {
  agent: AgentKind;
  ms: number;
  minMs: number;
  maxMs: number;
  /** MiB */
  rss: number;
  /** MiB, peak RssAnon of the agent's own processes */
  anon: number;
}

export function summarize(agent: AgentKind, runs: readonly RunResult[]): Summary {
  const ms = runs.map((r) => r.ms).filter((x): x is number => x !== null);
  const rss = runs.map((r) => r.rssKiB).filter((x): x is number => x !== null);
  const anon = runs.map((r) => r.anonKiB).filter((x): x is number => x !== null);
  if (ms.length === 0) throw new Error(`no run of ${agent} reported Ready`);
  return {
    agent,
    ms: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    rss: rss.length ? median(rss) / 1024 : NaN,
    anon: anon.length ? median(anon) / 1024 : NaN,
  };
}

/** One line per agent: median ms, range, ×ours, peak RSS MiB, ×ours, peak private MiB, ×ours ("-" without our agent). */
export function provisionTable(results: Readonly<Map<AgentKind, RunResult[]>>): string {
  const rows = [...results].map(([agent, runs]) => summarize(agent, runs));
  const ours = rows.find((r) => r.agent === 'ours');
  const ratio = (x: number, base: number | undefined) =>
    base === undefined || !(base > 0) || Number.isNaN(x) ? '-' : (x / base).toFixed(2);
  const lines = ['agent                                   Ready ms     min–max     ×ours   RSS MiB   ×ours  private MiB  ×ours'];
  const mib = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));
  for (const r of rows) {
    lines.push(
      `${LABELS[r.agent].padEnd(38)} ${r.ms.toFixed(0).padStart(9)} ${`${r.minMs}–${r.maxMs}`.padStart(13)} ${ratio(r.ms, ours?.ms).padStart(7)}` +
        ` ${mib(r.rss).padStart(9)} ${ratio(r.rss, ours?.rss).padStart(7)} ${mib(r.anon).padStart(12)} ${ratio(r.anon, ours?.anon).padStart(6)}`,
    );
  }
  return lines.join('\n');
}
