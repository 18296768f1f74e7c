// Distribution detection from /etc/os-release (the one source every supported distro has).
import { readFileSync } from 'node:fs';

export interface Distro {
  id: string;
  version: string;
  name: string;
  idLike: string[];
}

export function parseOsRelease(text: string): Distro {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    let v = m[2]!.trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    kv.set(m[1]!, v.replace(/\\(["$`\\])/g, '$1'));
  }
  return {
    id: (kv.get('ID') ?? 'linux').toLowerCase(),
    version: kv.get('VERSION_ID') ?? '',
    name: kv.get('NAME') ?? 'Linux',
    idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
  };
}

export function detectDistro(root = '/'): Distro {
  for (const p of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      return parseOsRelease(readFileSync(root + p, 'utf8'));
    } catch {
      /* try the next */
    }
  }
  return { id: 'linux', version: '', name: 'Linux', idLike: [] };
}
