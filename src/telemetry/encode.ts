// The telemetrydata XML (docs/protocol.md §2.11; upstream common/protocol/wire.py event_to_v1_encoded and
// report_event): each event is <Event id="N"><![CDATA[<Param Name=".." Value=".." T="mt:.." />…]]></Event>, the
// events of one provider are concatenated into batches of less than 64,512 bytes, and each batch is POSTed wrapped in
// <TelemetryData><Provider id="…">. An event that alone reaches the limit is dropped.
import type { ParamValue, TelemetryEvent, TelemetryParam } from './event.ts';

/** 2^16 − 2^10: a batch's events stay below this many bytes (upstream MAX_EVENT_BUFFER_SIZE). */
export const MAX_EVENT_BUFFER_SIZE = 2 ** 16 - 2 ** 10;

export function paramType(value: ParamValue, float = false): string {
  if (typeof value === 'boolean') return 'mt:bool';
  if (float && typeof value === 'number') return 'mt:float64';
  if (typeof value === 'number') return Number.isInteger(value) ? 'mt:uint64' : 'mt:float64';
  return 'mt:wstr';
}

/** Python's str() of the value: True/False for booleans, repr-like for floats. */
function pythonStr(value: ParamValue, float = false): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  // a Python float that happens to be whole prints as 590.0
  if (float && typeof value === 'number' && Number.isInteger(value)) return `${value}.0`;
  return String(value);
}

/** xml.sax.saxutils.quoteattr: escape &, <, >, newlines and tabs; pick the quote the value does not contain. */
export function quoteAttr(text: string): string {
  let s = text.replace(/&/g, '&amp;').replace(/>/g, '&gt;').replace(/</g, '&lt;');
  s = s.replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
  if (s.includes('"')) {
    if (s.includes("'")) return `"${s.replace(/"/g, '&quot;')}"`;
    return `'${s}'`;
  }
  return `"${s}"`;
}

export function paramToV1(p: TelemetryParam): string {
  return `<Param Name="${p.name}" Value=${quoteAttr(pythonStr(p.value, p.float))} T="${paramType(p.value, p.float)}" />`;
}

export function eventToV1(event: TelemetryEvent): Buffer {
  // quoteAttr escapes every ">", so no value can hold the "]]>" that would end the CDATA section early
  const params = event.parameters.map(paramToV1).join('');
  return Buffer.from(`<Event id="${event.eventId}"><![CDATA[${params}]]></Event>`, 'utf8');
}

export function telemetryBody(providerId: string, events: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="${providerId}">`, 'utf8'),
    events,
    Buffer.from('</Provider></TelemetryData>', 'utf8'),
  ]);
}

export interface Batch {
  providerId: string;
  body: Buffer;
  /** Which of the input items it carries (their indexes), so that their files are removed once it is sent. */
  items: number[];
}

export interface BatchResult {
  batches: Batch[];
  /** Indexes of the events too large to send alone. */
  oversize: number[];
}

/** Groups events by provider into batches as upstream's report_event does, in input order. */
export function makeBatches(events: readonly TelemetryEvent[], limit = MAX_EVENT_BUFFER_SIZE): BatchResult {
  const open = new Map<string, { parts: Buffer[]; size: number; items: number[] }>();
  const batches: Batch[] = [];
  const oversize: number[] = [];
  const close = (providerId: string) => {
    const b = open.get(providerId);
    if (b && b.items.length > 0) batches.push({ providerId, body: telemetryBody(providerId, Buffer.concat(b.parts)), items: b.items });
    open.delete(providerId);
  };
  events.forEach((event, i) => {
    const encoded = eventToV1(event);
    if (encoded.length >= limit) {
      oversize.push(i);
      return;
    }
    let b = open.get(event.providerId);
    if (b && b.size + encoded.length >= limit) {
      close(event.providerId);
      b = undefined;
    }
    if (!b) {
      b = { parts: [], size: 0, items: [] };
      open.set(event.providerId, b);
    }
    b.parts.push(encoded);
    b.size += encoded.length;
    b.items.push(i);
  });
  for (const id of [...open.keys()]) close(id);
  return { batches, oversize };
}
