// Section references (`§N`, `§N.N`, `§10 item K`) in code, tests and docs must name a section that exists in the
// document they cite: docs/contract.md after `contract.md`, docs/peers.md after `docs/peers.md`, docs/protocol.md otherwise
// (a bare reference means the protocol document, see its first line). Recorded upstream files are not scanned.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.ts';

type DocName = 'protocol' | 'contract' | 'peers';

interface DocIndex {
  sections: Set<string>;
  /** Numbered items of section 10 (protocol.md only). */
  items: Set<number>;
}

/** Section numbers from `## N. Title` / `### N.N Title` headings; items from `N. ` lines under `## 10.`. */
export function indexDoc(text: string): DocIndex {
  const sections = new Set<string>();
  const items = new Set<number>();
  let inTen = false;
  for (const line of text.split('\n')) {
    const heading = /^#{2,4}\s+(\d+(?:\.\d+)?)\.?\s/.exec(line);
    if (heading) {
      sections.add(heading[1]!);
      inTen = heading[1] === '10';
      continue;
    }
    if (/^#{1,2}\s/.test(line)) inTen = false;
    const item = inTen ? /^(\d+)\.\s/.exec(line) : null;
    if (item) items.add(Number(item[1]));
  }
  return { sections, items };
}

// A doc name, a section reference (with an optional item list), or a closing bracket ending a doc name's scope.
const TOKEN = /\b(protocol|contract|peers)\.md`?|§(\d+(?:\.\d+)?)(?:\s+items?\s+(\d+(?:\s*(?:,|–|-|and)\s*\d+)*))?|[)\]]/g;

/** The references in `text` that do not resolve, as `file:line: reference (doc)` strings. */
export function brokenReferences(text: string, file: string, docs: Record<DocName, DocIndex>): string[] {
  const broken: string[] = [];
  text.split('\n').forEach((line, i) => {
    let doc: DocName = 'protocol';
    for (const m of line.matchAll(TOKEN)) {
      if (m[1]) {
        doc = m[1] as DocName;
        continue;
      }
      if (!m[2]) {
        doc = 'protocol';
        continue;
      }
      const index = docs[doc];
      const where = `${file}:${i + 1}: ${m[0]} (docs/${doc}.md)`;
      if (!index.sections.has(m[2])) {
        broken.push(where);
        continue;
      }
      if (m[3]) {
        const numbers = m[3].split(/\s*(?:,|–|-|and)\s*/).map(Number);
        if (m[2] !== '10' || doc !== 'protocol' || numbers.some((n) => n < 1 || n > 42 || !index.items.has(n))) {
          broken.push(where);
        }
      }
    }
  });
  return broken;
}

const SCANNED = ['src', 'test', 'bench', 'scripts', 'docs', 'README.md'];
const SKIPPED = new Set([join('test', 'fixtures', 'walinuxagent'), 'node_modules']);

function* textFiles(path: string): Generator<string> {
  const rel = relative(REPO_ROOT, path);
  if (SKIPPED.has(rel) || rel.endsWith('node_modules')) return;
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) {
    for (const entry of readdirSync(path).sort()) yield* textFiles(join(path, entry));
  } else if (st.isFile() && st.size < 2_000_000) {
    yield path;
  }
}

function loadDocs(): Record<DocName, DocIndex> {
  const read = (name: DocName) => indexDoc(readFileSync(join(REPO_ROOT, 'docs', `${name}.md`), 'utf8'));
  return { protocol: read('protocol'), contract: read('contract'), peers: read('peers') };
}

describe('section references (§N.N) resolve in the repository docs', () => {
  const docs = loadDocs();

  it('docs/protocol.md has sections 1–10 and items 1–42 of section 10', () => {
    for (const s of ['1.1', '2.5', '5.9', '8.8', '9', '10']) assert.ok(docs.protocol.sections.has(s), s);
    for (let k = 1; k <= 42; k++) assert.ok(docs.protocol.items.has(k), `item ${k}`);
    for (let s = 1; s <= 7; s++) assert.ok(docs.contract.sections.has(String(s)), `contract §${s}`);
  });

  it('flags a reference to a section that does not exist', () => {
    const missing = '§' + '99.1';
    assert.equal(brokenReferences(`// see ${missing}`, 'x.ts', docs).length, 1);
    assert.equal(brokenReferences(`// docs/protocol.md §10 item ${43}`, 'x.ts', docs).length, 1);
    assert.equal(brokenReferences(`// docs/contract.md §${8}`, 'x.ts', docs).length, 1);
    assert.deepEqual(brokenReferences('// docs/protocol.md §5.9, §10 items 9–11; docs/peers.md §7', 'x.ts', docs), []);
  });

  it('every reference in src/, test/, bench/, scripts/, docs/ and README.md resolves', () => {
    const broken: string[] = [];
    let files = 0;
    for (const top of SCANNED) {
      for (const file of textFiles(join(REPO_ROOT, top))) {
        const buf = readFileSync(file);
        if (buf.includes(0)) continue;
        const text = buf.toString('utf8');
        if (!text.includes('§')) continue;
        files++;
        broken.push(...brokenReferences(text, relative(REPO_ROOT, file), docs));
      }
    }
    assert.ok(files > 50, `only ${files} files with references found`);
    assert.deepEqual(broken, []);
  });
});
