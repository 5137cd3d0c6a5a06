/**
 * The bytes of an input file, a pipe or standard input (`-`), in order, gunzipped on the fly when
 * they are gzip data. Readers (captures, recordings) take their bytes from here, so each of them
 * works on a file, on `-r -` and on `-r /dev/stdin` alike, and nothing ever seeks.
 *
 * Call order: `await openBytes(path)`, then `head(n)` any number of times (it looks without
 * consuming), then `feed(source, push)` (or `read()` until null), then `close()`.
 * Every chunk is a fresh Buffer the source never reuses, so consumers may keep views into it;
 * `feedReusing` instead reads into one buffer again and again, for consumers that keep nothing
 * (fresh memory for every megabyte read costs as much as reading it).
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { GamesniffError } from './errors';

export interface ByteSource {
  /** What to call it in messages: the path, or "stdin". */
  readonly name: string;
  /** The next chunk, or null at the end. */
  read(): Promise<Buffer | null>;
  /** Up to the first `n` bytes still to be read, without consuming them. */
  head(n: number): Promise<Buffer>;
  /** Set when the bytes ended early: a cut gzip stream. */
  readonly warning?: string;
  /** Like read(), into `target` from `offset` (the caller reuses target): bytes read, 0 at the end. */
  readInto(target: Buffer, offset: number): Promise<number>;
  /**
   * readInto on a thread of the pool, for a source that can (a regular file): the read runs
   * while the caller works on what it read before. Absent: reads are no faster ahead.
   */
  readAhead?(target: Buffer, offset: number): Promise<number>;
  close(): void;
}

const CHUNK = 1 << 20;
const GZIP = [0x1f, 0x8b];

/** Open `path` ('-' is standard input) for reading from the start. Input errors are GamesniffErrors with the fix. */
export async function openBytes(path: string): Promise<ByteSource> {
  // /dev/stdin names fd 0, which may be a socket that cannot be opened again (ENXIO): use it as is
  const stdin = path === '-' || path === '/dev/stdin' || path === '/dev/fd/0' || path === '/proc/self/fd/0';
  const name = path === '-' ? 'stdin' : path;
  let fd: number;
  if (stdin) fd = 0;
  else {
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw openError(path, e as NodeJS.ErrnoException);
    }
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    if (!stdin) fs.closeSync(fd);
    throw openError(name, e as NodeJS.ErrnoException);
  }
  if (st.isDirectory()) {
    if (!stdin) fs.closeSync(fd);
    throw new GamesniffError('INPUT', `${name} is a directory; give a capture (pcap, pcapng) or a recording (.gsrec)`);
  }
  const raw = new Buffered(name, new FdChunks(fd, !stdin, st.isFile()));
  const magic = await raw.head(2);
  if (magic[0] === GZIP[0] && magic[1] === GZIP[1]) return new Buffered(name, new GunzipChunks(raw));
  return raw;
}

function openError(path: string, e: NodeJS.ErrnoException): GamesniffError {
  switch (e.code) {
    case 'ENOENT':
      return new GamesniffError('INPUT', `${path}: no such file`);
    case 'EACCES':
    case 'EPERM':
      return new GamesniffError('INPUT', `${path}: permission denied (cannot read it as this user)`);
    default:
      return new GamesniffError('INPUT', `${path}: cannot open (${e.code ?? e.message})`);
  }
}

interface Chunks {
  next(): Promise<Buffer | null>;
  /** Reads straight into target (no fresh buffer), where the source can. */
  nextInto?(target: Buffer, offset: number): Promise<number>;
  /** nextInto off the main thread, where the source can. */
  nextIntoAhead?(target: Buffer, offset: number): Promise<number>;
  warning?: string;
  close(): void;
}

/** Chunks read from a file descriptor: synchronously for regular files (fast), asynchronously for pipes and terminals. */
class FdChunks implements Chunks {
  private done = false;
  readonly nextIntoAhead?: (target: Buffer, offset: number) => Promise<number>;
  constructor(
    private readonly fd: number,
    private readonly owned: boolean,
    private readonly regular: boolean,
  ) {
    if (regular) this.nextIntoAhead = (target, offset) => this.readFileAhead(target, offset);
  }

  private async readFileAhead(buf: Buffer, offset: number): Promise<number> {
    if (this.done) return 0;
    let n: number;
    try {
      n = await readAsync(this.fd, buf.subarray(offset));
    } catch (e) {
      throw new GamesniffError('INPUT', `cannot read: ${(e as Error).message}`);
    }
    if (n === 0) this.done = true;
    return n;
  }

  async next(): Promise<Buffer | null> {
    if (this.done) return null;
    const buf = Buffer.allocUnsafe(CHUNK);
    const n = await this.nextInto(buf, 0);
    if (n === 0) return null;
    return n === CHUNK ? buf : buf.subarray(0, n);
  }

  async nextInto(buf: Buffer, offset: number): Promise<number> {
    if (this.done) return 0;
    let n: number;
    for (;;) {
      try {
        n = this.regular ? fs.readSync(this.fd, buf, offset, buf.length - offset, null) : await readAsync(this.fd, buf.subarray(offset));
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // a non-blocking pipe with nothing in it yet: wait for the writer
        if (code === 'EAGAIN') {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        if (code === 'EOF') n = 0;
        else throw new GamesniffError('INPUT', `cannot read: ${(e as Error).message}`);
        break;
      }
    }
    if (n === 0) this.done = true;
    return n;
  }

  close(): void {
    this.done = true;
    if (this.owned) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
  }
}

function readAsync(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Gunzipped chunks of another source; a stream cut short ends with a warning, keeping what was decoded. */
class GunzipChunks implements Chunks {
  warning?: string;
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;

  constructor(private readonly raw: Buffered) {
    const input = Readable.from(
      (async function* () {
        for (let c = await raw.read(); c; c = await raw.read()) yield c;
      })(),
      { objectMode: false },
    );
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
    input.on('error', (e) => gunzip.destroy(e));
    this.it = input.pipe(gunzip)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async next(): Promise<Buffer | null> {
    if (this.ended) return null;
    try {
      const r = await this.it.next();
      if (!r.done) return r.value;
    } catch (e) {
      if (e instanceof GamesniffError) throw e;
      this.warning = `compressed data ends early (${(e as Error).message})`;
    }
    this.ended = true;
    return null;
  }

  close(): void {
    this.ended = true;
    this.raw.close();
  }
}

/** A chunk source with look-ahead: `head` keeps what it read for `read` to hand out. */
class Buffered implements ByteSource {
  private readonly ahead: Buffer[] = [];
  private aheadLen = 0;
  readonly readAhead?: (target: Buffer, offset: number) => Promise<number>;

  constructor(
    readonly name: string,
    private readonly chunks: Chunks,
  ) {
    const next = chunks.nextIntoAhead;
    // what head() looked at is handed out first, by readInto
    if (next) this.readAhead = (target, offset) => (this.ahead.length > 0 ? this.readInto(target, offset) : next(target, offset));
  }

  get warning(): string | undefined {
    return this.chunks.warning;
  }

  async read(): Promise<Buffer | null> {
    const b = this.ahead.shift();
    if (b) {
      this.aheadLen -= b.length;
      return b;
    }
    return this.chunks.next();
  }

  async head(n: number): Promise<Buffer> {
    while (this.aheadLen < n) {
      const c = await this.chunks.next();
      if (!c) break;
      this.ahead.push(c);
      this.aheadLen += c.length;
    }
    const all = this.ahead.length === 1 ? this.ahead[0]! : Buffer.concat(this.ahead, this.aheadLen);
    if (this.ahead.length > 1) this.ahead.splice(0, this.ahead.length, all);
    return Buffer.from(all.subarray(0, n));
  }

  async readInto(target: Buffer, offset: number): Promise<number> {
    const room = target.length - offset;
    const b = this.ahead[0] ?? (this.chunks.nextInto ? null : await this.chunks.next());
    if (!b) return this.chunks.nextInto ? this.chunks.nextInto(target, offset) : 0;
    // what head() looked at, or a chunk of a source that cannot read in place
    const n = Math.min(room, b.length);
    b.copy(target, offset, 0, n);
    if (this.ahead[0] === b) {
      this.aheadLen -= n;
      if (n === b.length) this.ahead.shift();
      else this.ahead[0] = b.subarray(n);
    } else if (n < b.length) {
      this.ahead.push(b.subarray(n));
      this.aheadLen += b.length - n;
    }
    return n;
  }

  close(): void {
    this.chunks.close();
  }
}

export interface FeedResult {
  /** Bytes the consumer never took (a record cut off at the end). */
  leftover: number;
  /** The signal stopped the reading before the end. */
  stopped: boolean;
}

/** Yield to the event loop now and then, so that a signal or a UI can act during a long read. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Hand the source's bytes to `push`, which consumes whole records from the front of what it is
 * given and returns how many bytes it took (or null to stop reading). What it leaves is given again
 * with the next bytes. When it takes nothing, the next call waits for twice as many bytes, so a
 * huge record costs a linear number of copies, not a quadratic one.
 */
export async function feed(src: ByteSource, push: (buf: Buffer) => number | null, signal?: AbortSignal): Promise<FeedResult> {
  // what push left of the last bytes, and how many bytes to gather before calling it again
  const st: { carry: Buffer | null; want: number } = { carry: null, want: 0 };
  const parts: Buffer[] = [];
  let partsLen = 0;
  const give = (): boolean => {
    const carry = st.carry;
    const have = (carry?.length ?? 0) + partsLen;
    const buf: Buffer = carry ? Buffer.concat([carry, ...parts], have) : parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    parts.length = 0;
    partsLen = 0;
    const used = push(buf);
    if (used === null) {
      st.carry = null;
      return false;
    }
    st.carry = used < buf.length ? buf.subarray(used) : null;
    st.want = used === 0 ? buf.length * 2 : 0;
    return true;
  };
  for (let n = 0; ; n++) {
    if (n % 8 === 7) await tick();
    if (signal?.aborted) return { leftover: 0, stopped: true };
    const chunk = await src.read();
    if (!chunk) break;
    parts.push(chunk);
    partsLen += chunk.length;
    if ((st.carry?.length ?? 0) + partsLen < st.want) continue;
    if (!give()) return { leftover: 0, stopped: false };
  }
  if (partsLen > 0 && !give()) return { leftover: 0, stopped: false };
  return { leftover: st.carry?.length ?? 0, stopped: false };
}

/** How much feedReusing reads at a time (it grows for a record larger than this). */
const REUSED_CHUNK = 4 << 20;

/**
 * What `feed` does, with one buffer read into again and again: `push` must not keep views into
 * what it is given beyond the call (it copies what it keeps). What it leaves is moved to the front
 * and given again with the next bytes.
 */
export async function feedReusing(src: ByteSource, push: (buf: Buffer) => number | null, signal?: AbortSignal): Promise<FeedResult> {
  return src.readAhead ? feedTwoBuffers(src, src.readAhead, push, signal) : feedOneBuffer(src, push, signal);
}

/** Room kept before the bytes read into each of feedTwoBuffers' buffers, for the record the other one left unfinished. */
const CARRY_ROOM = 320 << 10; // a record at libpcap's largest snap length (256 KiB) and its header fit

/**
 * feedReusing with two buffers, for a source that reads ahead: while `push` takes the records
 * of one, the next bytes are read into the other (reading a file costs as much as the rest of
 * `streams`). The record the last buffer left unfinished is copied in front of the next bytes;
 * one larger than CARRY_ROOM goes on with one buffer that grows.
 */
async function feedTwoBuffers(src: ByteSource, readAhead: (target: Buffer, offset: number) => Promise<number>, push: (buf: Buffer) => number | null, signal?: AbortSignal): Promise<FeedResult> {
  let buf = Buffer.allocUnsafe(CARRY_ROOM + REUSED_CHUNK);
  let prev = Buffer.allocUnsafe(CARRY_ROOM + REUSED_CHUNK);
  // the read in flight, if any: always waited for before returning, so that none outlives the
  // source (a read left queued could run once its descriptor is closed, or reused)
  let pending: Promise<number> | null = readAhead(buf, CARRY_ROOM);
  // the unfinished record: prev[carryAt, carryAt + carry)
  let carryAt = 0;
  let carry = 0;
  try {
    for (;;) {
      const got = await pending;
      pending = null;
      if (signal?.aborted) return { leftover: 0, stopped: true };
      if (got === 0) break;
      if (carry > CARRY_ROOM) {
        // a record larger than the room: one buffer from here on
        const joined = Buffer.allocUnsafe(carry + got + REUSED_CHUNK);
        prev.copy(joined, 0, carryAt, carryAt + carry);
        buf.copy(joined, carry, CARRY_ROOM, CARRY_ROOM + got);
        return await feedOneBuffer(src, push, signal, joined, carry + got);
      }
      const start = CARRY_ROOM - carry;
      if (carry > 0) prev.copy(buf, start, carryAt, carryAt + carry);
      // prev is free (push kept nothing of it): the next bytes go there while this buffer is pushed
      pending = readAhead(prev, CARRY_ROOM);
      const end = CARRY_ROOM + got;
      const used = push(buf.subarray(start, end));
      if (used === null) return { leftover: 0, stopped: false };
      carryAt = start + used;
      carry = end - carryAt;
      const b = buf;
      buf = prev;
      prev = b;
    }
    return { leftover: carry, stopped: false };
  } finally {
    if (pending) await pending.catch(() => 0);
  }
}

/** feedReusing with one buffer read into (after what push left of it) when the last push returned. */
async function feedOneBuffer(src: ByteSource, push: (buf: Buffer) => number | null, signal?: AbortSignal, first?: Buffer, firstLen = 0): Promise<FeedResult> {
  let buf = first ?? Buffer.allocUnsafe(REUSED_CHUNK);
  let have = firstLen;
  if (have > 0) {
    const used = push(buf.subarray(0, have));
    if (used === null) return { leftover: 0, stopped: false };
    if (used > 0) {
      buf.copyWithin(0, used, have);
      have -= used;
    }
  }
  for (let n = 0; ; n++) {
    if (n % 8 === 7) await tick();
    if (signal?.aborted) return { leftover: 0, stopped: true };
    if (have === buf.length) {
      // one record larger than the buffer: double it (a linear number of copies)
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, have);
      buf = bigger;
    }
    const got = await src.readInto(buf, have);
    if (got === 0) break;
    have += got;
    const used = push(buf.subarray(0, have));
    if (used === null) return { leftover: 0, stopped: false };
    if (used > 0) {
      buf.copyWithin(0, used, have);
      have -= used;
    }
  }
  return { leftover: have, stopped: false };
}

/** What a paced reader waits for before each read: a promise, or null when nothing holds it back. */
export type Ready = () => Promise<unknown> | null;

/**
 * `src`, each read waiting first for `ready` (when it gives a promise): a reader paced by its
 * consumer, e.g. output that a slow pipe holds back, so that nothing piles up in memory. When
 * nothing holds it back the read starts there and then: a read ahead issued from a microtask
 * would start only once the chunk before had been pushed, and the two would no longer overlap.
 */
export function paced(src: ByteSource, ready: Ready): ByteSource {
  const after = <T>(read: () => Promise<T>): Promise<T> => {
    const held = ready();
    return held ? held.then(read) : read();
  };
  return Object.assign(Object.create(src) as ByteSource, {
    read: () => after(() => src.read()),
    readInto: (target: Buffer, offset: number) => after(() => src.readInto(target, offset)),
    readAhead: src.readAhead && ((target: Buffer, offset: number) => after(() => src.readAhead!(target, offset))),
  });
}
