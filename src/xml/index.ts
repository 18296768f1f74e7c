// The XML layer: parse platform documents into a small DOM, look things up loosely, write XML.
export { parseXml, stripBom } from './dom.ts';
export type { XmlAttribute, XmlElement, XmlLimits, XmlNode, XmlText } from './dom.ts';
export { attr, childElements, find, findAll, findText, textOf, urlOf } from './query.ts';
export { escapeXml, escapeXmlAttribute, Markup, xmlDocument, xmlElement } from './writer.ts';
export type { XmlContent } from './writer.ts';
