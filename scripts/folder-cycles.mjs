// Prints folder-level import cycles in src/ (strongly connected components of
// the src/<folder> import graph). Interim measurement until dependency-cruiser
// is wired in; reads import specifiers with a regex, relative imports only.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(process.argv[2] ?? 'src');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(root);

const folderOf = (file) => {
  const parts = relative(root, file).split(sep);
  return parts.length > 1 ? parts[0] : '(top)';
};
const edges = new Map();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]);
    if (!target.startsWith(root)) continue;
    const a = folderOf(file), b = folderOf(target);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a).add(b);
  }
}

// Tarjan's strongly connected components.
const nodes = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])];
let index = 0; const idx = new Map(), low = new Map(), stack = [], on = new Set(), sccs = [];
function visit(v) {
  idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const scc = []; let w;
    do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
    if (scc.length > 1) sccs.push(scc.sort());
  }
}
for (const v of nodes) if (!idx.has(v)) visit(v);

if (sccs.length === 0) console.log('no folder-level cycles');
for (const scc of sccs) {
  const inner = scc.flatMap((a) => [...(edges.get(a) ?? [])].filter((b) => scc.includes(b)).map((b) => `${a}->${b}`));
  console.log(`cycle: ${scc.join(', ')}\n  edges: ${inner.join(' ')}`);
}
process.exitCode = sccs.length ? 1 : 0;
