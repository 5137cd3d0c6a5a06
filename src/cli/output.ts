/**
 * Everything the CLI prints goes through here: text lines are escaped (traffic and files may hold
 * terminal escape sequences), JSON lines are escaped the JSON way, and stdout is written in blocks.
 */
import { LineBlock } from '../core/line-block';
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
 * Writers that make their lines as bytes (session/json-line.ts) write into `block` directly.
 */
export class LineWriter {
  readonly block: LineBlock;

  /** flushAt 0 writes every line at once (live output should not wait). `json`: lines are JSON. */
  constructor(
    private readonly flushAt = 65536,
    private readonly json = false,
  ) {
    // nothing left queued: the chunk was written there and then (always to a file or a terminal;
    // to a pipe or a socket only when it had room, the rest is queued as a view of the block),
    // and the block is free again
    this.block = new LineBlock(
      (chunk) => {
        process.stdout.write(chunk);
        return process.stdout.writableLength === 0;
      },
      flushAt,
      Math.max(flushAt, 65536),
    );
  }

  line(text: string): void {
    this.safeLine(this.json ? escapeJson(text) : escapeText(text));
  }

  /** A line already safe to print (escaped as it was written). */
  safeLine(safe: string): void {
    // at most 3 bytes of UTF-8 per UTF-16 unit, and the newline
    if (safe.length * 3 + 1 > this.flushAt) {
      // a big line (or every line, unbuffered) goes out on its own, in one write
      this.flush();
      process.stdout.write(`${safe}\n`);
      return;
    }
    this.block.text(safe);
    this.block.endLine();
  }

  flush(): void {
    this.block.flush();
  }
}
