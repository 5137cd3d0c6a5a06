import { createHash } from 'node:crypto';
import type { Direction, StreamEnd } from '../../src/core/types';
import type { FlowListener, TcpConnection } from '../../src/flow/connection';
import { FlowTable, type FlowTableOptions } from '../../src/flow/table';
import { readCaptureFile } from '../../src/capture/file-reader';

/** Everything one direction delivered, kept whole (test captures are small). */
export interface CollectedDirection {
  chunks: Buffer[];
  /** [offset, length] of each gap, in stream order. */
  gaps: Array<[number, number]>;
  end: StreamEnd | null;
}

export interface CollectedConnection {
  conn: TcpConnection;
  c2s: CollectedDirection;
  s2c: CollectedDirection;
}

export function data(d: CollectedDirection): Buffer {
  return Buffer.concat(d.chunks);
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function gapBytes(d: CollectedDirection): number {
  return d.gaps.reduce((n, g) => n + g[1], 0);
}

/** A flow listener that keeps every chunk and gap of every TCP connection. */
export class Collector implements FlowListener {
  readonly connections: CollectedConnection[] = [];
  private readonly byConn = new Map<TcpConnection, CollectedConnection>();

  open(c: TcpConnection): void {
    const cc = { conn: c, c2s: newDir(), s2c: newDir() };
    this.byConn.set(c, cc);
    this.connections.push(cc);
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer): void {
    this.byConn.get(c)![dir].chunks.push(Buffer.from(chunk));
  }

  gap(c: TcpConnection, dir: Direction, length: number, offset: number): void {
    this.byConn.get(c)![dir].gaps.push([offset, length]);
  }

  end(c: TcpConnection, dir: Direction, reason: StreamEnd): void {
    this.byConn.get(c)![dir].end = reason;
  }
}

function newDir(): CollectedDirection {
  return { chunks: [], gaps: [], end: null };
}

export async function collectFile(path: string, opts: FlowTableOptions = {}): Promise<{ collector: Collector; table: FlowTable }> {
  const collector = new Collector();
  const table = new FlowTable(collector, opts);
  await readCaptureFile(path, (lt, d, o, ts) => table.push(lt, d, o, ts));
  table.finish();
  return { collector, table };
}
