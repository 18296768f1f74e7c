// Helpers shared by the platform-document parsers: parse, check the root, read required parts.
import { AgentError } from '../../util/errors.ts';
import { findText, parseXml, type XmlElement } from '../../xml/index.ts';

/** Parses `xml` and checks that its root element has the expected local name. */
export function parseDocument(xml: string, what: string, rootName: string): XmlElement {
  const root = parseXml(xml, what);
  if (root.localName !== rootName) {
    throw new AgentError('protocol', `the ${what} has the root element ${root.name}, expected ${rootName}`, {
      document: what,
      root: root.name,
    });
  }
  return root;
}

export function missing(what: string, element: string): AgentError {
  return new AgentError('protocol', `the ${what} has no ${element} element (or it is empty)`, {
    document: what,
    element,
  });
}

/** The text of the first `localName` below `el`; a protocol error naming the element when absent. */
export function requiredText(el: XmlElement, localName: string, what: string): string {
  const t = findText(el, localName);
  if (t === null) throw missing(what, localName);
  return t;
}

/** "true" in any case → true; anything else (including missing) → false. */
export function boolAttr(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === 'true';
}
