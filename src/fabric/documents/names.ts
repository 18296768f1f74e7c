// Names from the platform that become parts of file names (docs/protocol.md §5.3, §5.6): handler names
// (`<Lib.Dir>/<Name>-<Version>/`, `<Name>__<Version>.zip`, `<Extension.LogDir>/<Name>/`), versions, and the
// extension names of multi-config handlers (`config/<ext>.<seq>.settings`, `status/<ext>.<seq>.status`). The agent
// is root: a name that could climb out of its folder ("../../etc/x") or hide in a listing must never reach a path,
// so every one is checked here when the document is parsed, and again where the path is built (layout.ts).
//
// The patterns are those of the names Azure issues: publisher-qualified handler names of letters, digits, ".",
// "_" and "-" (Microsoft.AKS.Compute.AKS-Engine.Linux.Billing), dotted-digit versions (1.0.4.7), ARM extension
// resource names. Upstream does not check them (issue 11 finding 3).

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;
const VERSION = /^\d{1,9}(?:\.\d{1,9}){0,7}$/;

function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Why the handler name or version cannot be used in a path, or null when both are safe. */
export function handlerNameProblem(name: string, version: string): string | null {
  if (!NAME.test(name)) return `the handler name ${shown(name)} is not a valid handler name (letters, digits, ".", "_", "-")`;
  if (!VERSION.test(version)) return `the version ${shown(version)} of the handler ${name} is not a valid version (dotted numbers)`;
  return null;
}

/** Why a multi-config extension name cannot be used in a file name, or null when it is safe. */
export function extensionNameProblem(handler: string, extension: string): string | null {
  if (!NAME.test(extension))
    return `the extension name ${shown(extension)} of the handler ${handler} is not a valid extension name (letters, digits, ".", "_", "-")`;
  return null;
}
