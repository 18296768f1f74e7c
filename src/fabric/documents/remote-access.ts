// RemoteAccess (JIT accounts, docs/protocol.md §2.9).
import { find, findAll, findText, textOf } from '../../xml/index.ts';
import { parseDocument, requiredText } from './common.ts';

export interface RemoteAccessUser {
  readonly name: string;
  /** Base64 CMS, decrypted by the caller; null when missing. */
  readonly encryptedPassword: string | null;
  /** null when missing or not a date in either accepted form; see expirationText. */
  readonly expiration: Date | null;
  /** The Expiration text as received, for messages. */
  readonly expirationText: string | null;
  readonly groups: readonly string[];
}

export interface RemoteAccess {
  readonly incarnation: string | null;
  readonly users: readonly RemoteAccessUser[];
}

const WHAT = 'remote access document';
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
// The platform format `%a, %d %b %Y %H:%M:%S %Z` (always GMT), e.g. "Mon, 01 Jan 2024 00:00:00 GMT".
const RFC1123 = /^[A-Za-z]{3}, (\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC)$/;
// A bare date, as in the recorded test documents ("2019-01-01"), read as midnight UTC.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function parseExpiration(text: string | null): Date | null {
  if (text === null) return null;
  const t = text.trim();
  let m = RFC1123.exec(t);
  if (m) {
    const month = MONTHS.indexOf(m[2]!.toLowerCase());
    if (month < 0) return null;
    return validDate(+m[3]!, month, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  m = ISO_DATE.exec(t);
  if (m) return validDate(+m[1]!, +m[2]! - 1, +m[3]!, 0, 0, 0);
  return null;
}

function validDate(y: number, mo: number, d: number, h: number, mi: number, s: number): Date | null {
  const date = new Date(Date.UTC(y, mo, d, h, mi, s));
  // Reject rollovers such as 31 Feb or 25:00.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo || date.getUTCDate() !== d) return null;
  if (h > 23 || mi > 59 || s > 59) return null;
  return date;
}

export function parseRemoteAccess(xml: string): RemoteAccess {
  const root = parseDocument(xml, WHAT, 'RemoteAccess');
  const users = findAll(find(root, 'Users'), 'User').map((u) => {
    const expirationText = findText(u, 'Expiration');
    return {
      name: requiredText(u, 'Name', WHAT),
      encryptedPassword: findText(u, 'Password'),
      expiration: parseExpiration(expirationText),
      expirationText,
      groups: findAll(u, 'GroupName')
        .map(textOf)
        .filter((g): g is string => g !== null),
    };
  });
  return { incarnation: findText(root, 'Incarnation'), users };
}
