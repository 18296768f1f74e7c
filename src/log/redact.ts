// The one redaction helper: everything that may reach a log line, a status document or the
// goal-state history goes through here (docs/protocol.md §2.1, §10 item 40).

// `&amp;` too: SAS URLs inside XML documents (ExtensionsConfig saved to the goal-state history)
const SAS_PARAM = /((?:[?&]|&amp;)(?:sig|se|st|sp|sv|sr|spr|skoid|sktid|skt|ske|sks|skv|srt|ss)=)[^&\s"'<>]*/gi;
const PROTECTED_JSON = /("protectedSettings"\s*:\s*")[^"]*(")/gi;
const PROTECTED_XML = /(<ProtectedSettings[^>]*>)[^<]*(<\/ProtectedSettings>)/gi;
const PROTECTED_ATTR = /("protectedSettings"\s*:\s*)(?!null)\{[^{}]*\}/gi;
const PASSWORD_XML = /(<(?:[\w-]+:)?UserPassword\b[^>]*>)[^<]*(<\/(?:[\w-]+:)?UserPassword>)/gi;
const PASSWORD_KV = /(\b(?:password|passwd|pwd)\b["']?\s*[:=]\s*["']?)[^"'\s&,;}]+/gi;

const secrets = new Set<string>();

/** Registers a literal secret (a provisioned password, a decrypted setting) so that it never reaches a log. */
export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text
    .replace(SAS_PARAM, '$1***REDACTED***')
    .replace(PROTECTED_JSON, '$1***REDACTED***$2')
    .replace(PROTECTED_ATTR, '$1"***REDACTED***"')
    .replace(PROTECTED_XML, '$1***REDACTED***$2')
    .replace(PASSWORD_XML, '$1***REDACTED***$2')
    .replace(PASSWORD_KV, '$1***REDACTED***');
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***REDACTED***');
  return out;
}

/** Names of fields whose whole value is a secret (an error's context, reported as key=value). */
const SECRET_FIELD = /pass(?:word|wd|phrase)?$|^pwd$|secret|token|^sig$|signature|^sas|protected|credential|private.?key/i;

/** A key=value field for a report: the whole value when the key names a secret, else the value redacted. */
export function redactField(key: string, value: string): string {
  return SECRET_FIELD.test(key) ? '***REDACTED***' : redact(value);
}

/** Redacts the SAS part of a URL for display. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q) + redact(url.slice(q));
}
