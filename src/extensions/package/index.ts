// Extension handler packages on disk (docs/protocol.md §5.3–§5.7): paths, HandlerManifest.json,
// HandlerEnvironment.json, settings files, handler state, and unpacking. Each module documents its own API.
export * from './layout.ts';
export * from './handler-manifest.ts';
export * from './handler-environment.ts';
export * from './settings-files.ts';
export * from './handler-state.ts';
export * from './install-package.ts';
export { pythonJsonDumps, PyFloat } from '../../util/python-json.ts';
