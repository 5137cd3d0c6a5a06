import type { Unpackr } from 'msgpackr';
import { feed, openBytes, paced, type ByteSource, type Ready } from '../core/byte-source';
import { GamesniffError } from '../core/errors';
import { FORMAT_NAME, FORMAT_VERSION, headerProblem, recordProblem, type EventRecord, type RecordingHeader } from './format';

/**
 * Reads a .gsrec recording record by record, as it streams in (a file, a pipe, stdin; a recording
 * may be larger than memory). A file cut anywhere (a crash, kill -9, a full disk) reads up to its
 * last whole record and says so in `warning`; so does a corrupt record, which ends the reading at
 * that point. The header is checked as a whole before any record is read.
 *
 * Call order: `openRecording(path or source)` (reads and checks the header), then `read(onRecord)`
 * once, then `close()`; or `readRecording(...)` for all three.
 */

/** Upgrades a recording of version `from` to version `from + 1`. */
export interface Migration {
  from: number;
  header(h: Record<string, unknown>): Record<string, unknown>;
  record(r: Record<string, unknown>): Record<string, unknown>;
}

/** One entry per format change, oldest first. Version 1 is the first format: nothing to migrate yet. */
export const MIGRATIONS: Migration[] = [];

export interface RecordingReadResult {
  header: RecordingHeader;
  /** Event records read (the header not counted). */
  records: number;
  /** Whether the clean-stop record was found. */
  finished: boolean;
  /** Set when the file was cut or corrupt: what was lost. */
  warning?: string;
  fileBytes: number;
}

export interface ReadRecordingOptions {
  signal?: AbortSignal;
  migrations?: Migration[];
  /** The version to migrate to (default: this build's FORMAT_VERSION; tests set it to exercise a chain). */
  targetVersion?: number;
  /** Awaited before each read of more bytes: a consumer that takes records at its own pace (replay) holds reading back. */
  ready?: Ready;
}

/** A recording whose header has been read and checked; `read` streams its records. */
export interface RecordingInput {
  readonly name: string;
  readonly header: RecordingHeader;
  read(onRecord: (r: EventRecord) => void, opts?: { signal?: AbortSignal; ready?: Ready }): Promise<RecordingReadResult>;
  close(): void;
}

/** The longest header read (it holds the protocol description's text). */
const MAX_HEADER = 16 << 20;

let unpackrMade: Unpackr | null = null;
/** msgpackr takes 20-40 ms to load (a native part found through the file system): loaded when a recording is read, not by every command that might read one. */
function unpackr(): Unpackr {
  return (unpackrMade ??= new (require('msgpackr') as typeof import('msgpackr')).Unpackr({ useRecords: false, moreTypes: false }));
}

/** Do these first bytes of a file start a recording (rather than a capture)? */
export function looksLikeRecording(head: Buffer): boolean {
  return head.subarray(0, 64).includes(FORMAT_NAME);
}

function migrationChain(version: number, target: number, migrations: Migration[], path: string): Migration[] {
  const chain: Migration[] = [];
  for (let v = version; v < target; v++) {
    const m = migrations.find((x) => x.from === v);
    if (!m) throw new GamesniffError('INPUT', `${path}: recording format ${version} cannot be upgraded (no migration from version ${v})`);
    chain.push(m);
  }
  return chain;
}

function checkHeader(value: unknown, path: string, migrations: Migration[], target = FORMAT_VERSION): { header: RecordingHeader; chain: Migration[] } {
  const h = value as Record<string, unknown> | null;
  if (!h || typeof h !== 'object' || Array.isArray(h) || h.format !== FORMAT_NAME) throw new GamesniffError('INPUT', `${path}: not a gamesniff recording (no ${FORMAT_NAME} header)`);
  const version = h.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw new GamesniffError('INPUT', `${path}: recording header has no valid format version`);
  if (version > target) {
    throw new GamesniffError('INPUT', `${path}: recording format ${version} was written by a newer gamesniff (this one reads formats up to ${target}); upgrade gamesniff to read it`);
  }
  const chain = migrationChain(version, target, migrations, path);
  let up = h;
  for (const m of chain) up = m.header(up);
  const problem = headerProblem(up);
  if (problem) throw new GamesniffError('INPUT', `${path}: malformed recording header: ${problem}`);
  return { header: { ...(up as unknown as RecordingHeader), version: target }, chain };
}

/** Open a recording (a path, '-' for stdin, or an opened source) and read and check its header. */
export async function openRecording(input: string | ByteSource, opts: ReadRecordingOptions = {}): Promise<RecordingInput> {
  const src = typeof input === 'string' ? await openBytes(input) : input;
  const name = src.name;
  try {
    const migrations = opts.migrations ?? MIGRATIONS;
    // The header is the first value: look at more and more of the file until it is whole.
    let first: unknown = undefined;
    let size = 0;
    for (let want = 64 * 1024; ; want *= 4) {
      const head = await src.head(want);
      size = head.length;
      if (size === 0) throw new GamesniffError('INPUT', `${name}: not a gamesniff recording (empty file)`);
      let incomplete = false;
      try {
        unpackr().unpackMultiple(head, (v: unknown) => {
          first = v;
          return false;
        });
      } catch (e) {
        incomplete = !!(e as { incomplete?: boolean }).incomplete;
        if (!incomplete) throw new GamesniffError('INPUT', `${name}: not a gamesniff recording (its first bytes are not a recording header)`);
      }
      if (first !== undefined) break;
      if (!incomplete || size < want || want >= MAX_HEADER) throw new GamesniffError('INPUT', `${name}: not a gamesniff recording (no complete header)`);
    }
    const { header, chain } = checkHeader(first, name, migrations, opts.targetVersion);
    let used = false;
    return {
      name,
      header,
      read: (onRecord, ro = {}) => {
        if (used) throw new Error('a recording is read once');
        used = true;
        const ready = ro.ready ?? opts.ready;
        const from = ready ? paced(src, ready) : src;
        return readRecords(from, header, chain, onRecord, ro.signal ?? opts.signal);
      },
      close: () => src.close(),
    };
  } catch (e) {
    if (typeof input === 'string') src.close();
    throw e;
  }
}

async function readRecords(src: ByteSource, header: RecordingHeader, chain: Migration[], onRecord: (r: EventRecord) => void, signal?: AbortSignal): Promise<RecordingReadResult> {
  let records = 0;
  let finished = false;
  let warning: string | undefined;
  let headerSeen = false;
  /** File offset of the start of the bytes push is given. */
  let base = 0;
  let fileBytes = 0;
  const push = (buf: Buffer): number | null => {
    // Unpack everything first, then hand records on: msgpackr's reader state is global, and a
    // record's consumer may itself unpack msgpack (a protocol's msgpack fields).
    const values: unknown[] = [];
    const ends: number[] = [];
    let failure: string | null = null;
    try {
      unpackr().unpackMultiple(buf, (value: unknown, _start?: number, end?: number) => {
        values.push(value);
        ends.push(end!);
      });
    } catch (e) {
      // An incomplete last record waits for more bytes; anything else is corruption.
      if (!(e as { incomplete?: boolean }).incomplete) failure = (e as Error).message;
    }
    let consumed = 0;
    let stop: string | null = null;
    for (let i = 0; i < values.length; i++) {
      if (!headerSeen) headerSeen = true;
      else {
        let r = values[i] as Record<string, unknown>;
        let problem: string | null = null;
        try {
          for (const m of chain) r = m.record(r);
          problem = recordProblem(r);
        } catch (e) {
          problem = `cannot migrate it: ${(e as Error).message}`;
        }
        if (problem) {
          stop = `corrupt record at byte ${base + consumed} (${problem}); read the ${records} records before it`;
          break;
        }
        if (r.t === 'finish') finished = true;
        records++;
        onRecord(r as unknown as EventRecord);
      }
      consumed = ends[i]!;
    }
    if (!stop && failure) stop = `corrupt record at byte ${base + consumed} (${failure}); read the ${records} records before it`;
    base += consumed;
    fileBytes = base + (buf.length - consumed);
    if (stop) {
      warning = stop;
      return null;
    }
    return consumed;
  };
  const r = await feed(src, push, signal);
  if (!warning && src.warning) warning = `${src.warning}: read up to the last whole record`;
  if (!warning && r.leftover > 0 && !r.stopped) {
    warning = `the recording ends inside a record (${r.leftover} bytes at byte ${base} cut off): read up to the last whole record`;
  } else if (!warning && !finished && !r.stopped) {
    warning = 'the recording has no end marker: it was cut short (a crash or kill) after its last whole record';
  }
  return { header, records, finished, warning, fileBytes };
}

/** Read a whole recording: its header, then every record in order. */
export async function readRecording(input: string | ByteSource, onRecord: (r: EventRecord) => void, opts: ReadRecordingOptions = {}): Promise<RecordingReadResult> {
  const rec = await openRecording(input, opts);
  try {
    return await rec.read(onRecord, opts);
  } finally {
    if (typeof input === 'string') rec.close();
  }
}
