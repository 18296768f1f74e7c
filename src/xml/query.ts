// Loose lookups with the rules of docs/protocol.md §2.5 (the DOM getElementsByTagName conventions
// the Python agent relies on): first descendant by local name anywhere below, first text child as
// the text, empty element → null, missing attribute → "".
import type { XmlElement, XmlNode } from './dom.ts';

function* descendants(el: XmlElement): Generator<XmlElement> {
  for (const child of el.children) {
    if (child.kind !== 'element') continue;
    yield child;
    yield* descendants(child);
  }
}

/** The first element with this local name anywhere below `el` (document order), or null. */
export function find(el: XmlElement | null, localName: string): XmlElement | null {
  if (!el) return null;
  for (const d of descendants(el)) if (d.localName === localName) return d;
  return null;
}

/** Every element with this local name anywhere below `el`, in document order. */
export function findAll(el: XmlElement | null, localName: string): XmlElement[] {
  if (!el) return [];
  const out: XmlElement[] = [];
  for (const d of descendants(el)) if (d.localName === localName) out.push(d);
  return out;
}

/** The direct child elements of `el`, optionally only those with this local name. */
export function childElements(el: XmlElement | null, localName?: string): XmlElement[] {
  if (!el) return [];
  return el.children.filter(
    (c: XmlNode): c is XmlElement => c.kind === 'element' && (localName === undefined || c.localName === localName),
  );
}

/** The first text child of `el`, untrimmed; null for an empty element (or no element). */
export function textOf(el: XmlElement | null): string | null {
  if (!el) return null;
  for (const c of el.children) if (c.kind === 'text') return c.text;
  return null;
}

/** textOf(find(el, localName)). */
export function findText(el: XmlElement | null, localName: string): string | null {
  return textOf(find(el, localName));
}

/** The value of the attribute with this qualified name; "" when missing (§2.5). */
export function attr(el: XmlElement | null, name: string): string {
  if (!el) return '';
  for (const a of el.attributes) if (a.name === name) return a.value;
  return '';
}

/**
 * A URL held as the text of the first `localName` below `el`, trimmed (§10 item 5: a RemoteAccessInfo
 * URL arrives with a trailing newline); null when missing or blank.
 */
export function urlOf(el: XmlElement | null, localName: string): string | null {
  const t = findText(el, localName)?.trim();
  return t ? t : null;
}
