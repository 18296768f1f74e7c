import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { FIXTURES } from '../../helpers/paths.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import {
  attr,
  childElements,
  escapeXml,
  escapeXmlAttribute,
  find,
  findAll,
  findText,
  Markup,
  parseXml,
  textOf,
  urlOf,
  xmlDocument,
  xmlElement,
} from '../../../src/xml/index.ts';

const WIRE = join(FIXTURES, 'tests', 'data', 'wire') + '/';

function xmlError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isAgentError(e, 'xml'), `expected an AgentError of kind xml, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

describe('parseXml', () => {
  it('builds a namespace-aware tree', () => {
    const root = parseXml(
      '<?xml version="1.0"?><a:Root xmlns:a="urn:a" xmlns:i="urn:i" i:type="t" plain="p"><a:Child>x</a:Child><Other/></a:Root>',
      'test document',
    );
    assert.equal(root.name, 'a:Root');
    assert.equal(root.localName, 'Root');
    assert.equal(root.prefix, 'a');
    assert.equal(root.namespaceUri, 'urn:a');
    const typeAttr = root.attributes.find((a) => a.localName === 'type')!;
    assert.equal(typeAttr.name, 'i:type');
    assert.equal(typeAttr.namespaceUri, 'urn:i');
    assert.equal(typeAttr.value, 't');
    assert.equal(attr(root, 'plain'), 'p');
    assert.equal(attr(root, 'i:type'), 't');
    assert.deepEqual(
      childElements(root).map((c) => c.localName),
      ['Child', 'Other'],
    );
    assert.equal(findText(root, 'Child'), 'x');
  });

  it('strips a UTF-8 BOM, decoded or as three Latin-1 characters (§2.5)', () => {
    assert.equal(findText(parseXml('\ufeff<A><B>1</B></A>', 'doc'), 'B'), '1');
    assert.equal(findText(parseXml('\u00ef\u00bb\u00bf<A><B>2</B></A>', 'doc'), 'B'), '2');
  });

  it('unescapes entities and character references in text and attributes', () => {
    const root = parseXml('<A u="a&amp;b&quot;">x&amp;y&lt;&#65;&#x42;<![CDATA[<c>]]></A>', 'doc');
    assert.equal(attr(root, 'u'), 'a&b"');
    assert.equal(textOf(root), 'x&y<AB<c>');
  });

  it('reports malformed input in one sentence with line and column', () => {
    assert.equal(
      xmlError(() => parseXml('<GoalState>\n  <Incarnation>1', 'goal state')),
      'the goal state is not well-formed XML (line 2, column 16: unclosed tag Incarnation)',
    );
    assert.match(
      xmlError(() => parseXml('<A><B></A>', 'goal state')),
      /^the goal state is not well-formed XML \(line 1, column 10: unexpected close tag\)$/,
    );
    assert.match(
      xmlError(() => parseXml('', 'versions document')),
      /^the versions document is not well-formed XML \(.*root element\)$/,
    );
    assert.match(
      xmlError(() => parseXml('<A/><B/>', 'doc')),
      /only one root/,
    );
    assert.match(
      xmlError(() => parseXml('<a:B/>', 'doc')),
      /unbound namespace prefix/,
    );
    assert.match(
      xmlError(() => parseXml('<A>&nbsp;</A>', 'doc')),
      /undefined entity/,
    );
  });

  it('refuses binary garbage', () => {
    const garbage = String.fromCharCode(...Array.from({ length: 64 }, (_, i) => (i * 37) % 256));
    assert.match(
      xmlError(() => parseXml(garbage, 'certificates document')),
      /^the certificates document is not well-formed XML \(line \d+, column \d+: [^)]+\)$/,
    );
    assert.match(
      xmlError(() => parseXml('\x00\x01\x02', 'doc')),
      /disallowed character/,
    );
  });

  it('refuses a truncated document', () => {
    const full = readFileSync(WIRE + 'goal_state.xml', 'utf8');
    const msg = xmlError(() => parseXml(full.slice(0, full.indexOf('</Container>')), 'goal state'));
    assert.match(msg, /^the goal state is not well-formed XML \(line \d+, column \d+: unclosed tag (GoalState|Container)\)$/);
  });

  it('refuses DOCTYPE, so entity declarations are never expanded', () => {
    const billionLaughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>';
    const msg = xmlError(() => parseXml(billionLaughs, 'goal state'));
    assert.equal(msg, 'the goal state was refused: a DOCTYPE declaration is not accepted in platform documents');
    assert.match(
      xmlError(() => parseXml('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>', 'doc')),
      /DOCTYPE/,
    );
  });

  it('caps nesting depth (10,000 levels) and node count', () => {
    const deep = '<a>'.repeat(10_000) + '</a>'.repeat(10_000);
    assert.equal(
      xmlError(() => parseXml(deep, 'extensions config')),
      'the extensions config was refused: its elements nest deeper than 64 levels',
    );
    assert.equal(findAll(parseXml('<a>'.repeat(64) + '</a>'.repeat(64), 'doc'), 'a').length, 63);
    const wide = `<r>${'<i/>'.repeat(50)}</r>`;
    assert.match(
      xmlError(() => parseXml(wide, 'doc', { maxNodes: 20 })),
      /more than 20 nodes/,
    );
    assert.equal(childElements(parseXml(wide, 'doc', { maxNodes: 51 })).length, 50);
  });
});

describe('loose lookups (§2.5)', () => {
  const root = parseXml(
    '<Doc><Wrap><Item id="1">first</Item></Wrap><Item id="2"/><Item id="3"></Item>' +
      '<Item id="4">  padded  </Item><Url>\n  http://x/y?a=1&amp;b=2\n  </Url><Blank> </Blank>' +
      '<Mixed>a<!-- c -->b<Child/>c</Mixed></Doc>',
    'doc',
  );

  it('find is the first descendant by local name anywhere below, in document order', () => {
    assert.equal(attr(find(root, 'Item'), 'id'), '1');
    assert.deepEqual(
      findAll(root, 'Item').map((i) => attr(i, 'id')),
      ['1', '2', '3', '4'],
    );
    assert.equal(find(root, 'Nope'), null);
    assert.deepEqual(findAll(null, 'Item'), []);
    assert.equal(find(root, 'Doc'), null, 'the node itself is not its own descendant');
  });

  it('element text is the first text child, untrimmed; empty elements give null', () => {
    const items = findAll(root, 'Item');
    assert.equal(textOf(items[0]!), 'first');
    assert.equal(textOf(items[1]!), null);
    assert.equal(textOf(items[2]!), null);
    assert.equal(textOf(items[3]!), '  padded  ');
    assert.equal(findText(root, 'Mixed'), 'a');
    assert.equal(findText(root, 'Nope'), null);
  });

  it('missing attributes read as ""', () => {
    assert.equal(attr(find(root, 'Item'), 'missing'), '');
    assert.equal(attr(null, 'id'), '');
  });

  it('urlOf trims (§10 item 5) and gives null for missing or blank', () => {
    assert.equal(urlOf(root, 'Url'), 'http://x/y?a=1&b=2');
    assert.equal(urlOf(root, 'Blank'), null);
    assert.equal(urlOf(root, 'Nope'), null);
  });
});

describe('recorded manifests parse with the XML layer', () => {
  // Manifests (§5.2) have no typed parser in fabric/documents yet; the XML layer must read them.
  // [file, Plugin entries under the first Plugins, first Version]
  const cases: Array<[string, number, string]> = [
    ['ga_manifest.xml', 8, '1.0.0'],
    ['ga_manifest_no_upgrade.xml', 3, '1.0.0'],
    ['ga_manifest_no_uris.xml', 7, '1.0.0'],
    ['manifest.xml', 13, '1.0.0'], // plus 3 under InternalPlugins
    ['manifest_deletion.xml', 1, '1.0.0'],
    ['manifest_vm_access.xml', 1, '1.7.0'],
  ];
  for (const [file, plugins, firstVersion] of cases) {
    it(file, () => {
      const root = parseXml(readFileSync(WIRE + file, 'utf8'), file);
      assert.equal(root.localName, 'PluginVersionManifest');
      assert.equal(findAll(find(root, 'Plugins'), 'Plugin').length, plugins);
      assert.equal(findText(root, 'Version'), firstVersion);
    });
  }
});

describe('writer', () => {
  it('escapes & < > in text, and quotes in attributes', () => {
    assert.equal(escapeXml('a & b < c > d "e" \'f\''), 'a &amp; b &lt; c &gt; d "e" \'f\'');
    assert.equal(escapeXmlAttribute('a&"\'<'), 'a&amp;&quot;&apos;&lt;');
  });

  it('drops characters XML 1.0 cannot carry, keeps tab, newline and astral characters', () => {
    assert.equal(escapeXml('a\x00b\x1bc\td\ne\uffff\ud83d\ude00'), 'abc\td\ne\ud83d\ude00');
    assert.equal(escapeXml('lone \ud800 surrogate'), 'lone  surrogate');
  });

  it('builds elements without whitespace, escaping strings but not markup', () => {
    const doc = xmlDocument(
      xmlElement('R', { a: 'x"y', b: '1' }, xmlElement('C', null, '<&>'), null, false, undefined, new Markup('<raw/>')),
    );
    assert.equal(doc, '<?xml version="1.0" encoding="utf-8"?><R a="x&quot;y" b="1"><C>&lt;&amp;&gt;</C><raw/></R>');
    // What the writer produces, the parser reads back.
    assert.equal(findText(parseXml(doc, 'round trip'), 'C'), '<&>');
  });
});
