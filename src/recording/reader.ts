import * as fs from 'node:fs';
import { Unpackr } from 'msgpackr';
import { GamesniffError } from '../core/errors';
import { FORMAT_NAME, FORMAT_VERSION, recordProblem, type EventRecord, type RecordingHeader } from './format';

/**
 * Reads a .gsrec file record by record, in blocks (a recording may be larger than memory).
 * A file cut anywhere (a crash, kill -9, a full disk) reads up to its last whole record and
 * says so in `warning`; so does a corrupt record, which ends the reading at that point.
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
  blockSize?: number;
  /** The version to migrate to (default: this build's FORMAT_VERSION; tests set it to exercise a chain). */
  targetVersion?: number;
}

const unpackr = new Unpackr({ useRecords: false, moreTypes: false });

/** A cheap look at the first bytes: is this file a recording rather than a capture? */
export function isRecordingFile(path: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(64);
    const n = fs.readSync(fd, b, 0, 64, 0);
    return b.subarray(0, n).includes(FORMAT_NAME);
  } finally {
    fs.closeSync(fd);
  }
}

/** The header alone (for choosing a protocol before reading the records). */
export function readRecordingHeader(path: string): RecordingHeader {
  let b: Buffer;
  try {
    const fd = fs.openSync(path, 'r');
    try {
      b = Buffer.alloc(64 * 1024);
      b = b.subarray(0, fs.readSync(fd, b, 0, b.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new GamesniffError('INPUT', `cannot read ${path}: ${(e as Error).message}`);
  }
  let first: unknown = null;
  try {
    unpackr.unpackMultiple(b, (v: unknown) => {
      first = v;
      return false;
    });
  } catch {
    // A header cut short is reported by checkHeader below.
  }
  return checkHeader(first, path, MIGRATIONS).header;
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
  if (!h || typeof h !== 'object' || h.format !== FORMAT_NAME) throw new GamesniffError('INPUT', `${path}: not a gamesniff recording (no ${FORMAT_NAME} header)`);
  const version = h.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw new GamesniffError('INPUT', `${path}: recording header has no valid format version`);
  if (version > target) {
    throw new GamesniffError('INPUT', `${path}: recording format ${version} was written by a newer gamesniff (this one reads formats up to ${target}); upgrade gamesniff to read it`);
  }
  const chain = migrationChain(version, target, migrations, path);
  let up = h;
  for (const m of chain) up = m.header(up);
  return { header: { ...(up as unknown as RecordingHeader), version: target }, chain };
}

export async function readRecording(path: string, onRecord: (r: EventRecord) => void, opts: ReadRecordingOptions = {}): Promise<RecordingReadResult> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, 'r');
  } catch (e) {
    throw new GamesniffError('INPUT', `cannot read ${path}: ${(e as Error).message}`);
  }
  const blockSize = opts.blockSize ?? 1 << 20;
  const migrations = opts.migrations ?? MIGRATIONS;
  let header: RecordingHeader | null = null;
  let chain: Migration[] = [];
  let records = 0;
  let finished = false;
  let warning: string | undefined;
  let carry: Buffer | null = null;
  /** File offset of carry[0] (or of the next block when there is no carry). */
  let base = 0;
  let fileBytes = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) break;
      // A fresh block per read: decoded byte fields are views into it.
      const block = Buffer.allocUnsafe(blockSize);
      const { bytesRead } = await fh.read(block, 0, blockSize, null);
      if (bytesRead === 0) break;
      fileBytes += bytesRead;
      const buf: Buffer = carry ? Buffer.concat([carry, block.subarray(0, bytesRead)]) : block.subarray(0, bytesRead);
      // Unpack the whole block before handing records on: msgpackr's reader state is global,
      // and a record's consumer may itself unpack msgpack (a protocol's msgpack fields).
      const values: unknown[] = [];
      const ends: number[] = [];
      let failure: string | null = null;
      try {
        unpackr.unpackMultiple(buf, (value: unknown, _start?: number, end?: number) => {
          values.push(value);
          ends.push(end!);
        });
      } catch (e) {
        // An incomplete last record is carried into the next block; anything else is corruption.
        if (!(e as { incomplete?: boolean }).incomplete) failure = (e as Error).message;
      }
      let consumed = 0;
      let stop: string | null = null;
      for (let i = 0; i < values.length; i++) {
        if (!header) {
          ({ header, chain } = checkHeader(values[i], path, migrations, opts.targetVersion));
        } else {
          let r = values[i] as Record<string, unknown>;
          for (const m of chain) r = m.record(r);
          const problem = recordProblem(r);
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
      if (stop) {
        warning = stop;
        break;
      }
      carry = consumed < buf.length ? buf.subarray(consumed) : null;
      base += consumed;
    }
  } finally {
    await fh.close();
  }
  if (!header) throw new GamesniffError('INPUT', `${path}: not a gamesniff recording (${fileBytes === 0 ? 'empty file' : 'no complete header'})`);
  if (!warning && carry && carry.length > 0 && !opts.signal?.aborted) {
    warning = `the recording ends inside a record (${carry.length} bytes at byte ${base} cut off): read up to the last whole record`;
  } else if (!warning && !finished && !opts.signal?.aborted) {
    warning = 'the recording has no end marker: it was cut short (a crash or kill) after its last whole record';
  }
  return { header, records, finished, warning, fileBytes };
}
