/**
 * An append-only file of records in the OS temp directory: where the TUI keeps the bytes of
 * messages older than its window, so that memory does not grow with the session. The file is
 * unlinked as soon as it is open (it goes with the process, even one killed), and opened only
 * when the first megabyte is written (a short session never touches the disk). Writes are
 * batched in a buffer; reads go through a few cached blocks, so that a filter walking every
 * message reads the file in large pieces.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WRITE_BUFFER = 1 << 20;
const BLOCK = 256 << 10;
const CACHED_BLOCKS = 4;

/** Files that could not be unlinked while open (Windows): removed at exit. */
const unlinkAtExit = new Set<string>();
let exitHook = false;
let made = 0;
/** A spill file dropped without close() closes its descriptor when collected. */
const closeWhenCollected = new FinalizationRegistry<{ fd: number | null }>((h) => {
  if (h.fd !== null) closeSync(h.fd);
});

export class SpillFile {
  private readonly handle: { fd: number | null } = { fd: null };
  private closed = false;
  private out = Buffer.allocUnsafe(64 << 10);
  private used = 0;
  /** Bytes in the file (not counting those still in `out`). */
  private flushed = 0;
  private readonly blocks: { at: number; data: Buffer }[] = [];

  constructor() {
    closeWhenCollected.register(this, this.handle, this);
  }

  private fd(): number {
    if (this.closed) throw new Error('the spill file is closed');
    if (this.handle.fd !== null) return this.handle.fd;
    const path = join(tmpdir(), `gamesniff-tui-${process.pid}-${made++}-${Date.now().toString(36)}.spill`);
    this.handle.fd = openSync(path, 'w+', 0o600);
    try {
      unlinkSync(path);
    } catch {
      unlinkAtExit.add(path);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => {
          for (const f of unlinkAtExit) {
            try {
              unlinkSync(f);
            } catch {
              // gone already
            }
          }
        });
      }
    }
    return this.handle.fd;
  }

  /** Where the next record starts. */
  get size(): number {
    return this.flushed + this.used;
  }

  /** Room for a record of `n` bytes, at `out[at]` (write into `out` there, then call `append(n)`). */
  reserve(n: number): { buf: Buffer; at: number } {
    if (this.used + n > this.out.length && this.out.length < WRITE_BUFFER) {
      // the buffer grows to its full size before anything is written to disk
      const bigger = Buffer.allocUnsafe(Math.min(WRITE_BUFFER, Math.max(this.out.length * 2, this.used + n)));
      this.out.copy(bigger, 0, 0, this.used);
      this.out = bigger;
    }
    if (this.used + n > this.out.length) this.flush();
    if (n > this.out.length) return { buf: Buffer.allocUnsafe(n), at: 0 };
    return { buf: this.out, at: this.used };
  }
  /** The record written where `reserve` said: `buf` is what reserve gave. */
  append(buf: Buffer, n: number): void {
    if (buf !== this.out) {
      this.write(buf.subarray(0, n));
      return;
    }
    this.used += n;
  }

  private write(b: Buffer): void {
    const fd = this.fd();
    for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done, this.flushed + done);
    this.flushed += b.length;
  }

  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.write(this.out.subarray(0, n));
  }

  /**
   * The bytes at [pos, pos + n): a view (see record()). Reads `n` past the end of what was
   * written are cut short.
   */
  read(pos: number, n: number): Buffer {
    if (pos >= this.flushed) return this.out.subarray(pos - this.flushed, Math.min(this.used, pos - this.flushed + n));
    const b = this.block(pos, n);
    return b.data.subarray(pos - b.at, pos - b.at + n);
  }

  /** Whether the bytes at `pos` are still in the write buffer: a view of them is good only until the next write. */
  pending(pos: number): boolean {
    return pos >= this.flushed;
  }

  /** The length of the record at `pos` (its first 4 bytes, little-endian, itself included). */
  lengthAt(pos: number): number {
    if (pos >= this.flushed) return this.out.readUInt32LE(pos - this.flushed);
    const b = this.block(pos, 4);
    return b.data.readUInt32LE(pos - b.at);
  }

  /**
   * The record at `pos`, whole: a view. A view of the file's blocks stays good (a block read is
   * never written over); one of the write buffer (pending) only until the next write.
   */
  record(pos: number): Buffer {
    if (pos >= this.flushed) {
      const at = pos - this.flushed;
      return this.out.subarray(at, at + this.out.readUInt32LE(at));
    }
    const b = this.block(pos, 4);
    const at = pos - b.at;
    const n = b.data.readUInt32LE(at);
    return at + n <= b.data.length ? b.data.subarray(at, at + n) : this.read(pos, n);
  }

  /** The cached block holding [pos, pos + n), read from the file when none does. */
  private block(pos: number, n: number): { at: number; data: Buffer } {
    for (const b of this.blocks) if (pos >= b.at && pos + n <= b.at + b.data.length) return b;
    if (pos + n > this.flushed) this.flush();
    const data = Buffer.allocUnsafe(Math.max(BLOCK, n));
    const got = readSync(this.fd(), data, 0, data.length, pos);
    const block = { at: pos, data: data.subarray(0, got) };
    this.blocks.unshift(block);
    if (this.blocks.length > CACHED_BLOCKS) this.blocks.pop();
    return block;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeWhenCollected.unregister(this);
    if (this.handle.fd !== null) closeSync(this.handle.fd);
    this.handle.fd = null;
    this.blocks.length = 0;
    this.out = Buffer.alloc(0);
    this.used = 0;
  }
}
