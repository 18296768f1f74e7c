// Producing XML: escaping, and a tiny builder that writes documents without whitespace between
// elements (the form the WireServer receives from the Python agent, docs/protocol.md §3.1).

// Characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR, lone surrogates,
// U+FFFE/U+FFFF). Escaping cannot represent them, so they are dropped rather than making the
// whole document unacceptable to the receiver.
const NOT_XML_CHAR = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Escapes text content: `&`, `<` and `>` (as Python's saxutils.escape). */
export function escapeXml(s: string): string {
  return s.replace(NOT_XML_CHAR, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value (text escaping plus both quote characters). */
export function escapeXmlAttribute(s: string): string {
  return escapeXml(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Already-serialized markup: the builder does not escape it again. */
export class Markup {
  readonly xml: string;
  constructor(xml: string) {
    this.xml = xml;
  }
  toString(): string {
    return this.xml;
  }
}

export type XmlContent = Markup | string | null | undefined | false;

/**
 * `<name a="v">children</name>`; string children are escaped, Markup is inserted as is, null /
 * undefined / false are skipped (for optional parts). Attributes keep their insertion order.
 */
export function xmlElement(name: string, attributes: Record<string, string> | null, ...children: XmlContent[]): Markup {
  let open = name;
  for (const [k, v] of Object.entries(attributes ?? {})) open += ` ${k}="${escapeXmlAttribute(v)}"`;
  let body = '';
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    body += c instanceof Markup ? c.xml : escapeXml(c);
  }
  return new Markup(`<${open}>${body}</${name}>`);
}

/** The document: the UTF-8 XML declaration followed by the root element. */
export function xmlDocument(root: Markup): string {
  return `<?xml version="1.0" encoding="utf-8"?>${root.xml}`;
}
