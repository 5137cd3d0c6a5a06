/**
 * Text from traffic or files on its way to a terminal. A byte string in a message key, a recorded
 * address or a protocol name can hold escape sequences (retitle the window, move the cursor, hide
 * text, flip its direction); every line of text output goes through one of these first.
 *
 * Escaped: C0 controls (newline and tab too: a line stays one line), DEL, the C1 controls (which
 * some terminals read as CSI and OSC), and the Unicode format characters that reorder or hide
 * text (bidi overrides and isolates, zero-width characters, the line and paragraph separators).
 */

/** The characters above, as the inside of a RegExp character class (for escapers that add their own). */
export const UNSAFE_CLASS = '\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff';
const UNSAFE = new RegExp(`[${UNSAFE_CLASS}]`, 'g');
/** Whether a string holds any of them. */
export const UNSAFE_TEST = new RegExp(`[${UNSAFE_CLASS}]`);

function hex(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** One line of plain text, safe to print: unsafe characters as \xNN or \uNNNN. */
export function escapeText(s: string): string {
  return UNSAFE_TEST.test(s) ? s.replace(UNSAFE, hex) : s;
}

/** Several lines: each escaped on its own, the line breaks kept. */
export function escapeLines(s: string): string {
  return s.split('\n').map(escapeText).join('\n');
}

/**
 * A line of JSON, safe to print and still the same JSON: JSON.stringify leaves C1 controls and
 * format characters raw inside strings; here they become \uNNNN escapes (which JSON allows).
 */
export function escapeJson(json: string): string {
  return UNSAFE_TEST.test(json) ? json.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
