// Settings files (docs/protocol.md §5.6, §10 item 15): config/<seq>.settings (multi-config:
// config/<ext>.<seq>.settings) holding one runtimeSettings entry, written on every enable.
//
// API:
//   settingsFileJson(s: SettingsInput): string
//   writeSettingsFile(layout: HandlerLayout, s: SettingsInput, multiConfig: boolean): string   (the path written)
//   writeEmptySettingsFile(layout: HandlerLayout): string     config/0.settings, empty (handler without settings)
//   interface SettingsInput { name, seqNo, publicSettings, protectedSettings, certificateThumbprint }
//       (fabric/documents ExtensionSettings fits as it is)
//
// Null rules: publicSettings, protectedSettings and protectedSettingsCertThumbprint are always present, and null
// when absent (undefined or null) - extensions test for null, so never drop or empty them. protectedSettings is
// written exactly as given (the base64 CMS blob; the agent never decrypts it). The text is what the Python
// agent's json.dumps writes (python-json.ts). Files are written atomically with mode 0600: they carry
// (encrypted) protected settings; the Python agent leaves them 0644 under umask 022 inside the 0700 config/ dir,
// so no reader that could read them before loses access.
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../os/atomic-file.ts';
import { checkRealDirectory } from '../../os/safe-read.ts';
import type { HandlerLayout } from './layout.ts';
import { pythonJsonDumps } from '../../util/python-json.ts';

export interface SettingsInput {
  /** The extension name (used in the file name for multi-config handlers). */
  readonly name: string;
  readonly seqNo: number | string;
  readonly publicSettings?: unknown;
  readonly protectedSettings?: string | null;
  readonly certificateThumbprint?: string | null;
}

const SETTINGS_MODE = 0o600;

export function settingsFileJson(s: SettingsInput): string {
  return pythonJsonDumps({
    runtimeSettings: [
      {
        handlerSettings: {
          publicSettings: s.publicSettings ?? null,
          protectedSettings: s.protectedSettings ?? null,
          protectedSettingsCertThumbprint: s.certificateThumbprint ?? null,
        },
      },
    ],
  });
}

export function writeSettingsFile(layout: HandlerLayout, s: SettingsInput, multiConfig: boolean): string {
  const path = layout.settingsFile(s.seqNo, multiConfig ? s.name : null);
  checkRealDirectory(dirname(path), dirname(layout.baseDir));
  writeFileAtomic(path, settingsFileJson(s), { mode: SETTINGS_MODE });
  return path;
}

/** Handler without any settings: an empty 0.settings, and sequence number 0 for its commands (§5.6). */
export function writeEmptySettingsFile(layout: HandlerLayout): string {
  const path = layout.settingsFile(0, null);
  checkRealDirectory(dirname(path), dirname(layout.baseDir));
  writeFileAtomic(path, '', { mode: SETTINGS_MODE });
  return path;
}
