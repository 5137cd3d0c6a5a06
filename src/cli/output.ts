/**
 * Everything the CLI prints goes through here: text lines are escaped (traffic and files may hold
 * terminal escape sequences), JSON lines are escaped the JSON way, and stdout is written in blocks.
 */
import { escapeJson, escapeLines, escapeText } from '../core/terminal';

/** A line (or lines) on stderr, escaped. */
export function say(text: string): void {
  process.stderr.write(escapeLines(text) + '\n');
}

/** Text on stdout, escaped line by line. */
export function print(text: string): void {
  process.stdout.write(escapeLines(text) + '\n');
}

/** One JSON value on stdout, as one line. */
export function printJson(value: unknown): void {
  process.stdout.write(escapeJson(JSON.stringify(value)) + '\n');
}

/** Buffered line output to stdout: one write per 64 KiB rather than per line. */
export class LineWriter {
  private parts: string[] = [];
  private size = 0;

  /** flushAt 0 writes every line at once (live output should not wait). `json`: lines are JSON. */
  constructor(
    private readonly flushAt = 65536,
    private readonly json = false,
  ) {}

  line(text: string): void {
    this.safeLine(this.json ? escapeJson(text) : escapeText(text));
  }

  /** A line already safe to print (escaped as it was written: session/json-line.ts). */
  safeLine(safe: string): void {
    if (safe.length >= 1 << 20) {
      // a big line goes out on its own (one write), not joined into an even bigger string
      this.flush();
      process.stdout.write(`${safe}\n`);
      return;
    }
    this.parts.push(safe);
    this.size += safe.length + 1;
    if (this.size >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    process.stdout.write(this.parts.join('\n') + '\n');
    this.parts = [];
    this.size = 0;
  }
}
