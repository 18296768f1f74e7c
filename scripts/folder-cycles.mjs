// Prints the folder-level import cycles of src/ (strongly connected components of the src/<folder> import
// graph; the top-level files count as one node, "(top)") and exits 1 when there is one. The module graph is the
// one dependency-cruiser builds with .dependency-cruiser.cjs for `npm run lint:layers`, so both see the same
// imports: static, dynamic and type-only ones. The layer rules forbid every edge of a cycle already; this prints
// the whole picture when several break at once.
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..'));
const root = process.argv[2] ?? 'src';
const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
const { output } = await cruise([root], { ...options, validate: false });

const folderOf = (path) => {
  if (!path.startsWith(`${root}/`)) return null;
  const parts = path.slice(root.length + 1).split('/');
  return parts.length > 1 ? parts[0] : '(top)';
};
const edges = new Map();
for (const module of output.modules) {
  const a = folderOf(module.source);
  if (a === null) continue;
  for (const dep of module.dependencies) {
    const b = folderOf(dep.resolved);
    if (b === null || a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a).add(b);
  }
}

// Tarjan's strongly connected components.
const nodes = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])];
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const sccs = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const scc = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      scc.push(w);
    } while (w !== v);
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
