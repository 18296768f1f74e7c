// Pure edits of sshd_config (docs/protocol.md §4.5, §10 item 30). sshd takes the FIRST value it reads for an
// option, and options after a `Match` line are scoped to that block. So: replace the first global line of the
// option, else insert before the first Match (append when there is none). Where the main file includes
// sshd_config.d (Debian, Ubuntu, Fedora, Flatcar), settings go to our drop-in instead, which wins because the
// Include comes first — unless the main file sets the option above the Include line: then that line is edited.
import { posix } from 'node:path';
import { AgentError } from '../util/errors.ts';

export interface SshdSetting {
  /** The keyword written first; the others are aliases that sshd treats as the same option. */
  names: readonly string[];
  value: string;
  /** A setting that matters for security: not being able to apply it is an error, not a warning. */
  required: boolean;
}

export const DROP_IN_NAME = '50-waagent.conf';

/**
 * The settings of §4.5. OpenSSH 8.7 renamed ChallengeResponseAuthentication to KbdInteractiveAuthentication
 * (the old name stays an alias), so from 8.7 on both names are one option and the new one is written.
 */
export function sshdSettings(disablePasswordAuth: boolean, clientAliveInterval: number, opensshAtLeast87: boolean): SshdSetting[] {
  const yn = disablePasswordAuth ? 'no' : 'yes';
  return [
    { names: ['PasswordAuthentication'], value: yn, required: true },
    {
      names: opensshAtLeast87 ? ['KbdInteractiveAuthentication', 'ChallengeResponseAuthentication'] : ['ChallengeResponseAuthentication'],
      value: yn,
      required: true,
    },
    { names: ['ClientAliveInterval'], value: String(clientAliveInterval), required: false },
  ];
}

interface ParsedLine {
  keyword: string | null; // lower-case; null for comments and blank lines
  args: string;
  global: boolean; // not inside a Match block
}

/** sshd syntax: `Keyword value`, `Keyword=value` or `Keyword = value`; keywords are case-insensitive. */
export function parseSshdLines(text: string): ParsedLine[] {
  let inMatch = false;
  return text.split('\n').map((raw) => {
    const line = raw.replace(/\r$/, '').trim();
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+|$)(.*)$/.exec(line);
    if (!m || line.startsWith('#')) return { keyword: null, args: '', global: !inMatch };
    const keyword = m[1]!.toLowerCase();
    const args = m[2]!.trim();
    // `Match all` ends a Match block (§4.5); any other Match starts one.
    if (keyword === 'match') inMatch = args.toLowerCase() !== 'all';
    return { keyword, args, global: !inMatch && keyword !== 'match' };
  });
}

function firstGlobal(lines: ParsedLine[], names: readonly string[]): number {
  const want = names.map((n) => n.toLowerCase());
  return lines.findIndex((l) => l.global && l.keyword !== null && want.includes(l.keyword));
}

/** The Match-aware edit of §4.5 on the whole text. */
export function editSshdConfig(text: string, settings: readonly SshdSetting[]): string {
  const lines = text === '' ? [] : text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const s of settings) {
    const parsed = parseSshdLines(lines.join('\n'));
    const entry = `${s.names[0]} ${s.value}`;
    const at = firstGlobal(parsed, s.names);
    if (at >= 0) {
      lines[at] = entry;
      continue;
    }
    const match = parsed.findIndex((l) => l.keyword === 'match');
    if (match >= 0) lines.splice(match, 0, entry);
    else lines.push(entry);
  }
  return lines.join('\n') + '\n';
}

function splitArgs(args: string): string[] {
  return (args.match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"(.*)"$/, '$1'));
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re +=
          '[' +
          glob
            .slice(i + 1, end)
            .replace(/^!/, '^')
            .replace(/\\/g, '\\\\') +
          ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Index of the first global Include line whose patterns cover `path` (relative patterns are relative to sshDir), or -1. */
export function includeLineFor(lines: ParsedLine[], sshDir: string, path: string): number {
  return lines.findIndex(
    (l) => l.global && l.keyword === 'include' && splitArgs(l.args).some((p) => globToRegExp(posix.resolve(sshDir, p)).test(path)),
  );
}

export interface SshdPlan {
  /** New text of the main file, or null when it stays as it is. */
  main: string | null;
  /** Text of our drop-in, or null when none is needed. */
  dropIn: string | null;
  /** Settings that cannot take effect (read-only main file that sets them above its Include); for warnings. */
  ineffective: SshdSetting[];
}

/**
 * Where each setting goes. mainWritable is false for a read-only file or a link into /usr (Flatcar): then only the
 * drop-in can be written, and a required setting that the main file pins above the Include is an error.
 */
export function planSshdConfig(mainText: string, sshDir: string, settings: readonly SshdSetting[], mainWritable: boolean): SshdPlan {
  const lines = parseSshdLines(mainText);
  const include = includeLineFor(lines, sshDir, posix.join(sshDir, 'sshd_config.d', DROP_IN_NAME));
  const toMain: SshdSetting[] = [];
  const toDropIn: SshdSetting[] = [];
  const ineffective: SshdSetting[] = [];
  for (const s of settings) {
    const at = firstGlobal(lines, s.names);
    if (include >= 0 && (at < 0 || at > include)) toDropIn.push(s);
    else if (mainWritable) toMain.push(s);
    else ineffective.push(s);
  }
  const required = ineffective.filter((s) => s.required);
  if (required.length > 0) {
    const why = include < 0 ? 'it does not include sshd_config.d' : `it sets ${required[0]!.names[0]} above its Include line`;
    throw new AgentError(
      'provisioning',
      `cannot set ${required.map((s) => s.names[0]).join(' and ')} for sshd: ${posix.join(sshDir, 'sshd_config')} is read-only and ${why}`,
      { sshDir },
    );
  }
  const dropIn =
    toDropIn.length === 0
      ? null
      : '# Written by the Azure Linux VM Agent during provisioning.\n' + toDropIn.map((s) => `${s.names[0]} ${s.value}\n`).join('');
  const edited = toMain.length === 0 ? null : editSshdConfig(mainText, toMain);
  return { main: edited === null || edited === mainText ? null : edited, dropIn, ineffective };
}

/** OpenSSH version from `sshd -V` output ("OpenSSH_9.2p1 …"); null when not recognised. */
export function parseOpensshVersion(text: string): [number, number] | null {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * The OpenSSH version compiled into the sshd executable (its bytes), so it is known without running `sshd -V`
 * (issue 14: each command is a fork of the whole agent). version.h's strings are NUL-terminated C strings:
 * SSH_VERSION "OpenSSH_9.2", SSH_RELEASE "OpenSSH_9.2p1", on Debian also "OpenSSH_9.2p1 Debian-2+deb12u10". The
 * binary also holds compat.c's patterns of peer versions ("OpenSSH_7.4*", "OpenSSH_2*,OpenSSH_3*"), which always
 * have a `*`: only whole strings of the version form count, and they must all agree, else null (`sshd -V` decides).
 */
const OPENSSH = Buffer.from('OpenSSH_', 'latin1');

export function opensshVersionInBinary(binary: Buffer): [number, number] | null {
  let found: [number, number] | null = null;
  for (let at = binary.indexOf(OPENSSH); at >= 0; at = binary.indexOf(OPENSSH, at + 1)) {
    if (at > 0 && binary[at - 1] !== 0) continue; // inside a longer string
    const end = binary.indexOf(0, at);
    const text = binary.subarray(at, end < 0 ? binary.length : Math.min(end, at + 128)).toString('latin1');
    const m = /^OpenSSH_(\d+)\.(\d+)(?:p\d+)?(?: [^*,\x00-\x1f\x7f-\xff]+)?$/.exec(text);
    if (!m) continue;
    const v: [number, number] = [Number(m[1]), Number(m[2])];
    if (found !== null && (found[0] !== v[0] || found[1] !== v[1])) return null;
    found = v;
  }
  return found;
}
