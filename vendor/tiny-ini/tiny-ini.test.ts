// tiny-ini against every rule of docs/protocol.md §8.8 (and the Python agent's load() it describes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIni, pyStrip } from './index.ts';

/** The effective value of each key, as a plain object. */
function values(text: string): Record<string, string | null> {
  return Object.fromEntries([...parseIni(text).values].map(([k, e]) => [k, e.value]));
}

test('a key and value around "=", both trimmed', () => {
  assert.deepEqual(values('A=1\n  B.C  =  two  \n'), { A: '1', 'B.C': 'two' });
});

test('"#" in column 0 is a comment; indented "#" is not', () => {
  assert.deepEqual(values('#A=1\n #B=2\n\t#C=3\n'), { '#B': '2', '#C': '3' });
});

test('a line without "=" is ignored, whatever it says', () => {
  assert.deepEqual(values('just words\n[section]\n\nA=1\nB\n'), { A: '1' });
});

test('the value is cut at the first "#" (an inline comment), even inside quotes', () => {
  assert.deepEqual(values('A=y # yes please\nB=x#y#z\nC="a # b"\nD=#\n'), { A: 'y', B: 'x', C: 'a', D: '' });
});

test('the key is the text before the FIRST "=": later "=" belong to the value', () => {
  assert.deepEqual(values('ResourceDisk.MountOptions=compress=lzo\nA==b=\n'), { 'ResourceDisk.MountOptions': 'compress=lzo', A: '=b=' });
});

test('a "#" before the "=" is part of the key (the line is not a comment)', () => {
  assert.deepEqual(values('A # note=1\n'), { 'A # note': '1' });
});

test("double quotes and spaces are stripped from both ends, as strip('\" ') then strip()", () => {
  assert.deepEqual(values('A="x"\nB= " x y " \nC=""\nD="\'q\'"\nE=\t"x"\t\nF= "in"side" \n'), {
    A: 'x',
    B: 'x y',
    C: '',
    D: "'q'",
    // strip('" ') stops at the tab, so the quotes stay; strip() then removes the tabs
    E: '"x"',
    F: 'in"side',
  });
});

test('single quotes are kept', () => {
  assert.deepEqual(values("A='x'\n"), { A: "'x'" });
});

test('the literal None means unset; other spellings are ordinary strings', () => {
  assert.deepEqual(values('A=None\nB="None"\nC=none\nD=NONE\nE=None # unset\n'), { A: null, B: null, C: 'none', D: 'NONE', E: null });
});

test('an empty value is the empty string, not unset', () => {
  assert.deepEqual(values('A=\nB=   \n'), { A: '', B: '' });
});

test('later lines win, a later None included; every assignment is kept in order', () => {
  const doc = parseIni('A=1\nB=x\nA=2\nB=None\n');
  assert.deepEqual(Object.fromEntries([...doc.values].map(([k, e]) => [k, [e.value, e.line]])), { A: ['2', 3], B: [null, 4] });
  assert.deepEqual(
    doc.entries.map((e) => `${e.key}@${e.line}`),
    ['A@1', 'B@2', 'A@3', 'B@4'],
  );
});

test('keys are case-sensitive', () => {
  assert.deepEqual(values('Logs.Verbose=y\nlogs.verbose=n\n'), { 'Logs.Verbose': 'y', 'logs.verbose': 'n' });
});

test('CRLF line ends are accepted, also with quoted values', () => {
  assert.deepEqual(values('A=1\r\nB="two"\r\n#C=3\r\nD=None\r\n'), { A: '1', B: 'two', D: null });
});

test('a UTF-8 byte order mark before the first key is ignored', () => {
  assert.deepEqual(values('\ufeffA=1\nB=2\n'), { A: '1', B: '2' });
  assert.deepEqual(values('\ufeff#A=1\nB=2\n'), { B: '2' }, 'a BOM before a comment keeps it a comment');
});

test('line numbers are 1-based and count ignored lines; raw keeps the text after "="', () => {
  const e = parseIni('# c\n\nA = "v" # note\n').values.get('A')!;
  assert.equal(e.line, 3);
  assert.equal(e.raw, '"v" # note');
  assert.equal(e.value, 'v');
});

test('a line "=x" gives an entry with an empty key', () => {
  assert.deepEqual(values('=x\n'), { '': 'x' });
});

test('a file without a final newline, and an empty text', () => {
  assert.deepEqual(values('A=1'), { A: '1' });
  assert.deepEqual(parseIni('').entries, []);
});

test('pyStrip strips what Python strips', () => {
  assert.equal(pyStrip('\x1c\x1d\x1e\x1f\x85 a \xa0\u3000'), 'a', 'Python whitespace that trim() keeps');
  assert.equal(pyStrip('\ufeffa'), '\ufeffa', 'U+FEFF is not whitespace to Python');
  assert.equal(pyStrip('" "x" "', '" '), 'x');
  assert.equal(pyStrip('', '" '), '');
});

test('non-ASCII whitespace around keys and values is stripped like Python does', () => {
  assert.deepEqual(values('\x1fA\x1f=\x85b\x85\n'), { A: 'b' });
});
