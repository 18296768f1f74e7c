// Figures shared by the loop benchmarks: least-squares slope, request grouping by endpoint, table formatting
// with ratios against a baseline measured in the same run.
import type { RecordedRequest } from '../../test/fabric/types.ts';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** "service METHOD /path?comp=X&type=Y" with ids, incarnations and SAS tokens left out. */
export function endpointOf(q: RecordedRequest): string {
  const [path, query = ''] = q.path.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  const keep = ['comp', 'type'].filter((k) => params.has(k)).map((k) => `${k}=${params.get(k)}`);
  const p = path.replace(/^\/machine\/[^?]+/, '/machine/…');
  return `${q.service} ${q.method} ${p}${keep.length ? `?${keep.join('&')}` : ''}`;
}

export function countByEndpoint(reqs: readonly RecordedRequest[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const q of reqs) m.set(endpointOf(q), (m.get(endpointOf(q)) ?? 0) + 1);
  return new Map([...m].sort((a, b) => a[0].localeCompare(b[0])));
}

export const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
export const ratio = (x: number, base: number): string =>
  Number.isFinite(x) && Number.isFinite(base) && base !== 0 ? (x / base).toFixed(2) : '-';

/** A text table: columns padded to the widest cell, first column left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
