// The layer rule of src/ (docs/architecture.md "Layers, bottom to top", docs/development.md "The layer rule"),
// checked by `npm run lint:layers`; `npm run lint:cycles` (scripts/folder-cycles.mjs) folds the same graph to folders.
//
// A folder may import from the layers below its own, never from a layer above. Folders of one layer do not import
// each other, except for the pairs in LATERAL. The top-level files of src/ (entry.ts, main.ts, cli.ts) are the
// entry layer, above everything. Every folder of src/ must be in LAYERS: an import of a folder that is not is an
// error, so a new folder is given its place here first.
//
// TypeScript 7 (the project's compiler) has no JavaScript API that dependency-cruiser can use, so the sources are
// parsed with swc (@swc/core); both are devDependencies.

/** Bottom to top. */
const LAYERS = [
  { name: 'foundation', folders: ['log', 'util', 'xml'] },
  { name: 'config', folders: ['config'] },
  { name: 'formats', folders: ['crypto', 'archive'] },
  { name: 'os', folders: ['os'] },
  { name: 'fabric', folders: ['fabric'] },
  { name: 'reporting', folders: ['status', 'history', 'telemetry'] },
  { name: 'duties', folders: ['provisioning', 'extensions'] },
  { name: 'composite duties', folders: ['deprovision', 'daemon'] },
  { name: 'commands', folders: ['commands'] },
];

/** Imports allowed between two folders of the same layer (from, to). */
const LATERAL = [
  ['util', 'log'], // util/periodic.ts logs a failing task
  ['xml', 'util'], // typed errors
];

/**
 * Known breaks of the rules above, one import each, by its two files and the issue that will remove it, e.g.
 * { from: 'src/a/b.ts', to: 'src/c/d.ts', issue: '#123' }. None today; keep it that way.
 */
const KNOWN_EXCEPTIONS = [];

const TOP_LEVEL = '^src/[^/]+\\.ts$';
const folderPath = (folders) => `^src/(${folders.join('|')})/`;
const exactly = (file) => `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

/** A rule, minus the known exceptions among the imports it forbids (a rule cannot say "not this pair", so the
 *  files with an exception get a rule of their own, without their excepted targets). */
function withExceptions(rule) {
  const mine = KNOWN_EXCEPTIONS.filter((e) => new RegExp(rule.from.path).test(e.from));
  if (mine.length === 0) return [rule];
  const froms = [...new Set(mine.map((e) => e.from))];
  return [
    { ...rule, from: { path: rule.from.path, pathNot: froms.map(exactly) } },
    ...froms.map((from) => ({
      ...rule,
      from: { path: exactly(from) },
      to: { ...rule.to, pathNot: mine.filter((e) => e.from === from).map((e) => exactly(e.to)) },
    })),
  ];
}

const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flatMap((l) => l.folders);
  return layer.folders.flatMap((folder) => {
    const peers = layer.folders.filter((f) => f !== folder && !LATERAL.some(([a, b]) => a === folder && b === f));
    const forbidden = [...above, ...peers];
    return withExceptions({
      name: `layer-${folder}`,
      severity: 'error',
      comment: `${folder}/ (${layer.name} layer) imports only from the layers below it${
        peers.length < layer.folders.length - 1 ? ' and the same-layer folders LATERAL names' : ''
      }: never from ${[...forbidden.map((f) => `${f}/`), 'the entry files'].join(', ')}`,
      from: { path: folderPath([folder]) },
      to: { path: forbidden.length ? [folderPath(forbidden), TOP_LEVEL] : [TOP_LEVEL] },
    });
  });
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'a module may not reach itself through its imports',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'folder-without-layer',
      severity: 'error',
      comment: 'every folder of src/ has a place in LAYERS of .dependency-cruiser.cjs',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: folderPath(LAYERS.flatMap((l) => l.folders)) },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that resolves to no file',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    moduleSystems: ['es6'],
    reporterOptions: { text: { highlightFocused: true } },
  },
};
