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

/**
 * Buffered line output to stdout: lines are encoded into a block as they come and the block goes
 * out in one write when full (no array of strings joined into one more string, then encoded).
 */
export class LineWriter {
  private block: Buffer | null = null;
  private pos = 0;

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
    // at most 3 bytes of UTF-8 per UTF-16 unit, and the newline
    const most = safe.length * 3 + 1;
    if (most > this.flushAt) {
      // a big line (or every line, unbuffered) goes out on its own, in one write
      this.flush();
      process.stdout.write(`${safe}\n`);
      return;
    }
    if (this.block === null) this.block = Buffer.allocUnsafe(Math.max(this.flushAt, 65536));
    else if (this.pos + most > this.block.length) {
      this.flush();
      this.block = Buffer.allocUnsafe(Math.max(this.flushAt, 65536));
    }
    this.pos += this.block.write(safe, this.pos);
    this.block[this.pos++] = 10;
  }

  flush(): void {
    if (this.pos === 0 || this.block === null) return;
    // the stream may keep the block until it is written: the next lines go to a new one
    process.stdout.write(this.block.subarray(0, this.pos));
    this.block = null;
    this.pos = 0;
  }
}
