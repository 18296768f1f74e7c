// tiny-ini: the waagent.conf reader (docs/protocol.md §8.8). Not on the npm registry: this is ours.
//
// Rules, exactly as the Python agent's ConfigurationProvider.load() applies them:
//  - the file is split on "\n";
//  - a line whose first column is "#", or that has no "=", is ignored (so "  # a=b" is NOT a comment);
//  - key = text before the first "=", whitespace-stripped; keys are case-sensitive;
//  - value = text after it, cut at the first "#", then spaces and double quotes stripped from both ends
//    (Python's strip('" ')), then whitespace-stripped (Python's strip());
//  - the literal value "None" means unset; later lines win (a later "None" unsets an earlier value).
// Two deliberate departures, both for files edited on other systems: a trailing "\r" is dropped from every
// line before anything else (Python would keep it inside a quoted value), and a leading UTF-8 BOM is ignored
// (Python would make it part of the first key).

export interface IniEntry {
  /** may be "" for a line such as "=value"; the caller decides what to say about it */
  key: string;
  /** null when the value is the literal None */
  value: string | null;
  /** 1-based line number of the line that set it */
  line: number;
  /** the text after "=" with only surrounding whitespace removed, for messages */
  raw: string;
}

export interface IniDocument {
  /** every assignment in file order, overridden ones included */
  entries: IniEntry[];
  /** the effective entry of each key (the last one) */
  values: Map<string, IniEntry>;
}

// Python's str.strip() with no argument removes exactly the characters for which str.isspace() is true.
// JavaScript's trim() differs (it keeps \x1c-\x1f and \x85, and removes \ufeff), hence our own.
const PY_SPACE = /[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

export function pyStrip(s: string, chars?: string): string {
  const strip = chars === undefined ? (c: string) => PY_SPACE.test(c) : (c: string) => chars.includes(c);
  let a = 0;
  let b = s.length;
  while (a < b && strip(s[a]!)) a++;
  while (b > a && strip(s[b - 1]!)) b--;
  return s.slice(a, b);
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
    const key = pyStrip(line.slice(0, eq));
    const after = line.slice(eq + 1);
    // Python: parts[1].split('#')[0].strip("\" ").strip()
    const value = pyStrip(pyStrip(after.split('#')[0]!, '" '));
    const entry: IniEntry = { key, value: value === 'None' ? null : value, line: i + 1, raw: pyStrip(after) };
    entries.push(entry);
    values.set(key, entry);
  }
  return { entries, values };
}
