// Limits on one handler's settings (issue 11): the settings of every extension of a handler together, as the
// platform's document carries them (the JSON text with its base64 protectedSettings), and how deeply that JSON
// nests. A handler over either limit is invalid, with the sentence below as its status, and nothing of it is
// written or run; the other handlers of the goal state go on. The whole document has its own cap (4 MiB for
// WireServer documents, 8 MiB for the HostGAPlugin's vmSettings), so these bound what one handler can take of it
// and what its settings files and its commands' environment receive.
//
// No platform limit is documented in the recorded documents; 1 MiB per handler is far above the settings seen in
// practice (a few KiB, protected settings included), and 64 levels is the nesting the XML parser allows.

export const MAX_SETTINGS_BYTES_PER_HANDLER = 1024 * 1024;
export const MAX_SETTINGS_DEPTH = 64;

/**
 * The deepest nesting of objects and arrays in a JSON text, counted without parsing it (strings skipped), and
 * stopping as soon as `stopAt` is passed: linear, and no deep recursion whatever the input.
 */
export function jsonDepth(text: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Why the settings texts of one handler are refused, or null when they are within the limits. */
export function settingsLimitProblem(handler: string, texts: readonly string[]): string | null {
  let bytes = 0;
  for (const t of texts) bytes += Buffer.byteLength(t, 'utf8');
  if (bytes > MAX_SETTINGS_BYTES_PER_HANDLER) {
    return `the settings of the handler ${handler} are ${bytes} bytes, over the limit of ${MAX_SETTINGS_BYTES_PER_HANDLER} bytes per handler`;
  }
  for (const t of texts) {
    const depth = jsonDepth(t, MAX_SETTINGS_DEPTH);
    if (depth > MAX_SETTINGS_DEPTH) {
      return `the settings of the handler ${handler} nest more than ${MAX_SETTINGS_DEPTH} levels deep, over the limit`;
    }
  }
  return null;
}
