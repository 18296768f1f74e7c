// Every on-disk path of an extension handler (docs/protocol.md §5.3, §5.5–§5.8, §7.3), in one place.
//
// API:
//   layoutRoots(config: Config): LayoutRoots                      { libDir: Lib.Dir, logDir: Extension.LogDir }
//   handlerLayout(roots: LayoutRoots, name: string, version: string): HandlerLayout
//   packageZipName(name, version): string                         "<Name>__<Version>.zip"
//   handlerDirName(name, version): string                         "<Name>-<Version>"
//   parseHandlerDirName(dirName: string): { name: string; version: string } | null
//   parsePackageZipName(fileName: string): { name: string; version: string } | null
//
// Multi-config file names carry the extension name: config/<ext>.<seq>.settings, status/<ext>.<seq>.status,
// config/<ext>.HandlerState, <logDir>/<Name>/CommandExecution_<ext>.log (§5.6–§5.8). Pass extName = null for
// single-config handlers.
import { join } from 'node:path';
import { libDirOf, type Config } from '../../config/index.ts';
import { AgentError } from '../../util/errors.ts';
import { extensionNameProblem, handlerNameProblem } from '../../fabric/documents/index.ts';

/**
 * The parsers already made a handler with an unsafe name invalid; this is the second check where paths are built,
 * so no caller can make a path of a name that was never checked.
 */
function checkedHandler(name: string, version: string): void {
  const problem = handlerNameProblem(name, version);
  if (problem !== null) throw new AgentError('extension', `no path is made for it: ${problem}`, { handler: name, version });
}

function checkedExtension(handler: string, extName: string): string {
  const problem = extensionNameProblem(handler, extName);
  if (problem !== null) throw new AgentError('extension', `no path is made for it: ${problem}`, { handler, extension: extName });
  return extName;
}

export interface LayoutRoots {
  /** Lib.Dir, e.g. /var/lib/waagent */
  libDir: string;
  /** Extension.LogDir, e.g. /var/log/azure */
  logDir: string;
}

export interface HandlerLayout {
  readonly name: string;
  readonly version: string;
  /** <lib>/<Name>__<Version>.zip */
  readonly packageZip: string;
  /** <lib>/<Name>-<Version>: the handler base dir. */
  readonly baseDir: string;
  readonly configDir: string;
  readonly statusDir: string;
  readonly manifestFile: string;
  readonly environmentFile: string;
  readonly heartbeatFile: string;
  /** Legacy "most recent sequence number" file. */
  readonly mrseqFile: string;
  /** config/HandlerState */
  readonly handlerStateFile: string;
  /** config/HandlerStatus */
  readonly handlerStatusFile: string;
  /** <logDir>/<Name>: the handler's log folder (not versioned). */
  readonly logFolder: string;
  /** <logDir>/<Name>/events */
  readonly eventsFolder: string;
  settingsFile(seqNo: number | string, extName: string | null): string;
  statusFile(seqNo: number | string, extName: string | null): string;
  /** config/<ext>.HandlerState (multi-config only). */
  extensionStateFile(extName: string): string;
  commandLogFile(extName: string | null): string;
}

export function layoutRoots(config: Config): LayoutRoots {
  return { libDir: libDirOf(config), logDir: config.str('Extension.LogDir') };
}

export function packageZipName(name: string, version: string): string {
  checkedHandler(name, version);
  return `${name}__${version}.zip`;
}

export function handlerDirName(name: string, version: string): string {
  checkedHandler(name, version);
  return `${name}-${version}`;
}

// The Python agent's patterns: the name is everything before the first "-", the version is dotted digits.
const HANDLER_DIR = /^([^-]+)-(\d+(?:\.\d+)*)$/;
const PACKAGE_ZIP = /^(.+)__(\d+(?:\.\d+)*)\.zip$/i;

export function parseHandlerDirName(dirName: string): { name: string; version: string } | null {
  const m = HANDLER_DIR.exec(dirName);
  return m ? { name: m[1]!, version: m[2]! } : null;
}

export function parsePackageZipName(fileName: string): { name: string; version: string } | null {
  const m = PACKAGE_ZIP.exec(fileName);
  return m ? { name: m[1]!, version: m[2]! } : null;
}

export function handlerLayout(roots: LayoutRoots, name: string, version: string): HandlerLayout {
  const baseDir = join(roots.libDir, handlerDirName(name, version));
  const configDir = join(baseDir, 'config');
  const statusDir = join(baseDir, 'status');
  const logFolder = join(roots.logDir, name);
  return {
    name,
    version,
    packageZip: join(roots.libDir, packageZipName(name, version)),
    baseDir,
    configDir,
    statusDir,
    manifestFile: join(baseDir, 'HandlerManifest.json'),
    environmentFile: join(baseDir, 'HandlerEnvironment.json'),
    heartbeatFile: join(baseDir, 'heartbeat.log'),
    mrseqFile: join(baseDir, 'mrseq'),
    handlerStateFile: join(configDir, 'HandlerState'),
    handlerStatusFile: join(configDir, 'HandlerStatus'),
    logFolder,
    eventsFolder: join(logFolder, 'events'),
    settingsFile: (seqNo, extName) =>
      join(configDir, extName === null ? `${seqNo}.settings` : `${checkedExtension(name, extName)}.${seqNo}.settings`),
    statusFile: (seqNo, extName) =>
      join(statusDir, extName === null ? `${seqNo}.status` : `${checkedExtension(name, extName)}.${seqNo}.status`),
    extensionStateFile: (extName) => join(configDir, `${checkedExtension(name, extName)}.HandlerState`),
    commandLogFile: (extName) =>
      join(logFolder, extName === null ? 'CommandExecution.log' : `CommandExecution_${checkedExtension(name, extName)}.log`),
  };
}
