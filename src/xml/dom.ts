// A small, read-only DOM built on saxes: the one place where platform XML is parsed.
// Namespace-aware, a UTF-8 BOM is stripped (docs/protocol.md §2.5), DOCTYPE is refused (no entity
// declarations, so no entity-expansion attacks), and depth and node count are capped.
import { SaxesParser } from 'saxes';
import { AgentError } from '../util/errors.ts';

export interface XmlAttribute {
  /** Qualified name as written, e.g. `xsi:noNamespaceSchemaLocation`. */
  readonly name: string;
  readonly localName: string;
  readonly prefix: string;
  readonly namespaceUri: string;
  readonly value: string;
}

export interface XmlText {
  readonly kind: 'text';
  readonly text: string;
}

export interface XmlElement {
  readonly kind: 'element';
  /** Qualified name as written. */
  readonly name: string;
  readonly localName: string;
  readonly prefix: string;
  readonly namespaceUri: string;
  readonly attributes: readonly XmlAttribute[];
  readonly children: readonly XmlNode[];
}

export type XmlNode = XmlElement | XmlText;

export interface XmlLimits {
  /** Deepest element nesting accepted (the root is depth 1). */
  maxDepth?: number;
  /** Most element and text nodes accepted in one document. */
  maxNodes?: number;
}

// Platform documents nest a dozen levels and hold a few thousand nodes at most.
const DEFAULT_MAX_DEPTH = 64;
const DEFAULT_MAX_NODES = 200_000;

interface MutableElement extends XmlElement {
  readonly children: XmlNode[];
}

/** Strips a UTF-8 byte-order mark, decoded (U+FEFF) or read as three Latin-1 characters (§2.5). */
export function stripBom(text: string): string {
  if (text.charCodeAt(0) === 0xfeff) return text.slice(1);
  if (text.startsWith('\u00ef\u00bb\u00bf')) return text.slice(3);
  return text;
}

/** "1:10: unclosed tag: A." → "unclosed tag A" */
function saxesReason(message: string): string {
  return message
    .replace(/^[^:]*?\d+:\d+: /, '')
    .replace(/\.$/, '')
    .replace(/: /g, ' ');
}

/**
 * Parses a whole document. `what` names it in messages ("goal state" →
 * "the goal state is not well-formed XML (line 3, column 7: unclosed tag Incarnation)").
 */
export function parseXml(text: string, what: string, limits: XmlLimits = {}): XmlElement {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxNodes = limits.maxNodes ?? DEFAULT_MAX_NODES;
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: MutableElement[] = [];
  let root: MutableElement | null = null;
  let nodes = 0;
  // Text and CDATA are merged into one text node until an element or comment interrupts them.
  let textOpen = false;

  const fail = (reason: string, context: Record<string, string | number> = {}): never => {
    throw new AgentError('xml', `the ${what} is not well-formed XML (line ${parser.line}, column ${parser.column}: ${reason})`, {
      document: what,
      line: parser.line,
      column: parser.column,
      ...context,
    });
  };
  const refuse = (reason: string): never => {
    throw new AgentError('xml', `the ${what} was refused: ${reason}`, { document: what, line: parser.line });
  };
  const count = (): void => {
    if (++nodes > maxNodes) refuse(`it has more than ${maxNodes} nodes`);
  };
  const addText = (t: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent || t === '') return; // whitespace outside the root element
    const last = parent.children[parent.children.length - 1];
    if (textOpen && last && last.kind === 'text') {
      parent.children[parent.children.length - 1] = { kind: 'text', text: last.text + t };
      return;
    }
    count();
    parent.children.push({ kind: 'text', text: t });
    textOpen = true;
  };

  parser.on('error', (e) => fail(saxesReason(e.message)));
  parser.on('doctype', () => refuse('a DOCTYPE declaration is not accepted in platform documents'));
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('comment', () => {
    textOpen = false;
  });
  parser.on('opentag', (tag) => {
    count();
    if (stack.length + 1 > maxDepth) refuse(`its elements nest deeper than ${maxDepth} levels`);
    const attributes: XmlAttribute[] = Object.values(tag.attributes).map((a) => ({
      name: a.name,
      localName: a.local,
      prefix: a.prefix,
      namespaceUri: a.uri,
      value: a.value,
    }));
    const el: MutableElement = {
      kind: 'element',
      name: tag.name,
      localName: tag.local,
      prefix: tag.prefix,
      namespaceUri: tag.uri,
      attributes,
      children: [],
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
    textOpen = false;
  });
  parser.on('closetag', () => {
    stack.pop();
    textOpen = false;
  });

  parser.write(stripBom(text)).close();
  if (!root) return fail('the document has no root element');
  return root;
}
