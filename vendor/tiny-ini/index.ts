// tiny-ini: the waagent.conf reader (azure-protocol.md §8.8). Not on the npm registry: this is ours.
//
// Rules, exactly as the Python agent applies them:
//  - the file is split on "\n" (a trailing "\r" is dropped: CRLF files are accepted; a UTF-8 BOM too);
//  - a line whose first column is "#", or that has no "=", is ignored;
//  - key = text before the first "=", trimmed; keys are case-sensitive;
//  - value = text after it, cut at the first "#", then double quotes and spaces stripped from both ends, then trimmed;
//  - the literal value "None" means unset;
//  - later lines win.

export interface IniEntry {
  key: string;
  /** null when the value is the literal None */
  value: string | null;
  /** 1-based line number of the line that set it */
  line: number;
  /** the raw text after "=" before any processing, for messages */
  raw: string;
}

export interface IniDocument {
  /** every assignment in file order, overridden ones included */
  entries: IniEntry[];
  /** the effective entry of each key (the last one) */
  values: Map<string, IniEntry>;
}

export function parseIni(text: string): IniDocument {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const entries: IniEntry[] = [];
  const values = new Map<string, IniEntry>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    if (key === '') continue;
    const raw = line.slice(eq + 1);
    let value = raw;
    const hash = value.indexOf('#');
    if (hash >= 0) value = value.slice(0, hash);
    // Python: value.split('#')[0].strip('" ').strip()
    value = stripQuotes(value).trim();
    const entry: IniEntry = { key, value: value === 'None' ? null : value, line: i + 1, raw: raw.trim() };
    entries.push(entry);
    values.set(key, entry);
  }
  return { entries, values };
}

function stripQuotes(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === '"' || s[a] === ' ')) a++;
  while (b > a && (s[b - 1] === '"' || s[b - 1] === ' ')) b--;
  return s.slice(a, b);
}
