import type { Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { endpointString, type Direction, type StreamEnd } from '../core/types';
import type { FlowListener, TcpConnection, UdpFlow } from '../flow/connection';

/**
 * A flow listener that sums up each connection direction when it closes:
 * bytes, sha256 of the delivered bytes (when asked: hashing is most of the cost of a run), gaps, conflicting overlaps, how it
 * ended (what `gamesniff streams` prints). With a write directory it also
 * writes each direction's delivered bytes to a file, for diffing with
 * tcpflow or Wireshark's Follow TCP Stream.
 */
export interface StreamRecord {
  conn: number;
  proto: 'tcp' | 'udp';
  client: string;
  server: string;
  dir: Direction;
  bytes: number;
  /** Of the delivered bytes, with the `hash` option. */
  sha256?: string;
  gaps: number;
  gapBytes: number;
  overlapConflicts: number;
  syn: boolean;
  end: StreamEnd;
  midstream: boolean;
  packets: number;
  retransmittedBytes: number;
  duplicates: number;
  /** The connection this one continues after idle eviction (same 4-tuple, exact sequence numbers). */
  resumes?: number;
}

/** Record fields that TCP and UDP fill the same way. */
type Common = 'conn' | 'proto' | 'client' | 'server' | 'dir' | 'sha256' | 'packets' | 'duplicates';

const WRITE_BATCH = 1 << 20;

class DirectionState {
  readonly hash: Hash | null;
  end: StreamEnd = 'open';
  bytes = 0;
  private parts: Buffer[] | null = null;
  private held = 0;

  constructor(
    readonly file: string | null,
    hash: boolean,
  ) {
    // node:crypto takes 10 ms to load: only with --hash
    this.hash = hash ? (require('node:crypto') as typeof import('node:crypto')).createHash('sha256') : null;
    if (file) fs.writeFileSync(file, '');
  }

  add(chunk: Buffer): void {
    this.addAt(chunk, 0, chunk.length);
  }

  /** The bytes at buf[start, end), kept only as copies. */
  addAt(buf: Buffer, start: number, end: number): void {
    this.bytes += end - start;
    if (!this.hash && !this.file) return;
    const chunk = buf.subarray(start, end);
    this.hash?.update(chunk);
    if (!this.file) return;
    (this.parts ??= []).push(Buffer.from(chunk));
    this.held += chunk.length;
    if (this.held >= WRITE_BATCH) this.flush();
  }

  flush(): void {
    if (!this.file || !this.parts || this.held === 0) return;
    fs.appendFileSync(this.file, Buffer.concat(this.parts, this.held));
    this.parts = [];
    this.held = 0;
  }
}

export interface StreamSummaryOptions {
  /** Write each direction's bytes to files in this directory. */
  writeDir?: string;
  /** Include UDP flows (datagrams concatenated). */
  udp?: boolean;
  /** The sha256 of each direction's delivered bytes. */
  hash?: boolean;
}

export class StreamSummary implements FlowListener {
  private readonly state = new Map<TcpConnection | UdpFlow, [DirectionState, DirectionState]>();
  /** datagramAt's last flow and its state (undefined: not tracked). */
  private lastFlow: UdpFlow | null = null;
  private lastState: [DirectionState, DirectionState] | undefined;

  constructor(
    private readonly onRecord: (r: StreamRecord) => void,
    private readonly opts: StreamSummaryOptions = {},
  ) {
    if (opts.writeDir) fs.mkdirSync(opts.writeDir, { recursive: true });
  }

  private track(f: TcpConnection | UdpFlow, proto: string): void {
    const base = (dir: Direction): string | null => {
      if (!this.opts.writeDir) return null;
      const name = `${f.id}-${proto}-${endpointString(f.client)}-${endpointString(f.server)}-${dir}.bin`;
      return path.join(this.opts.writeDir, name.replace(/[^0-9A-Za-z.\-]/g, '_'));
    };
    const hash = !!this.opts.hash;
    this.state.set(f, [new DirectionState(base('c2s'), hash), new DirectionState(base('s2c'), hash)]);
    if (this.lastFlow === f) this.lastFlow = null;
  }

  open(c: TcpConnection): void {
    this.track(c, 'tcp');
  }

  data(c: TcpConnection, dir: Direction, chunk: Buffer): void {
    this.state.get(c)?.[dir === 'c2s' ? 0 : 1].add(chunk);
  }

  end(c: TcpConnection, dir: Direction, reason: StreamEnd): void {
    const s = this.state.get(c);
    if (s) s[dir === 'c2s' ? 0 : 1].end = reason;
  }

  close(c: TcpConnection): void {
    this.report(c, 'tcp', (_i, dir, d) => {
      const stream = c.stream(dir);
      const st = stream.stats;
      return {
        bytes: st.bytes,
        gaps: st.gaps,
        gapBytes: st.gapBytes,
        overlapConflicts: st.overlapConflicts,
        syn: stream.synSeen,
        end: d.end,
        midstream: stream.midstream,
        retransmittedBytes: st.retransmittedBytes,
        ...(c.resumes >= 0 ? { resumes: c.resumes } : {}),
      };
    });
  }

  udpOpen(f: UdpFlow): void {
    if (this.opts.udp !== false) this.track(f, 'udp');
  }

  datagram(f: UdpFlow, dir: Direction, payload: Buffer): void {
    this.datagramAt(f, dir, payload, 0, payload.length);
  }

  datagramAt(f: UdpFlow, dir: Direction, buf: Buffer, start: number, end: number): void {
    // most datagrams are of the flow the one before was of
    if (f !== this.lastFlow) {
      this.lastFlow = f;
      this.lastState = this.state.get(f);
    }
    this.lastState?.[dir === 'c2s' ? 0 : 1].addAt(buf, start, end);
  }

  udpClose(f: UdpFlow): void {
    this.report(f, 'udp', (i, _dir, d) => ({
      bytes: d.bytes,
      // datagrams the capture truncated: the missing bytes are gaps
      gaps: f.truncated[i],
      gapBytes: f.bytes[i] - d.bytes,
      overlapConflicts: 0,
      syn: false,
      end: f.end,
      midstream: false,
      retransmittedBytes: 0,
    }));
  }

  /** Emit both directions' records; `specific` gives what differs between TCP and UDP. */
  private report(
    f: TcpConnection | UdpFlow,
    proto: 'tcp' | 'udp',
    specific: (i: 0 | 1, dir: Direction, d: DirectionState) => Omit<StreamRecord, Common>,
  ): void {
    const s = this.state.get(f);
    if (!s) return;
    this.state.delete(f);
    if (this.lastFlow === f) this.lastFlow = null;
    for (const [i, dir] of [[0, 'c2s'], [1, 's2c']] as const) {
      const d = s[i];
      d.flush();
      this.onRecord({
        conn: f.id,
        proto,
        client: endpointString(f.client),
        server: endpointString(f.server),
        dir,
        ...specific(i, dir, d),
        ...(d.hash ? { sha256: d.hash.digest('hex') } : {}),
        packets: f.packets[i],
        duplicates: f.duplicates[i],
      });
    }
  }
}

/**
 * A record as one JSON line, the same as JSON.stringify(r) (keys in the order records are made),
 * written directly: `streams` prints one per direction, and stringify was a tenth of a run over
 * many short connections. Strings are quoted as they are when they hold only what addresses and
 * names are made of (a recording's addresses may hold anything: those go through JSON.stringify).
 */
export function recordJson(r: StreamRecord): string {
  return (
    `{"conn":${r.conn},"proto":${str(r.proto)},"client":${str(r.client)},"server":${str(r.server)},"dir":${str(r.dir)},"bytes":${r.bytes},"gaps":${r.gaps},` +
    `"gapBytes":${r.gapBytes},"overlapConflicts":${r.overlapConflicts},"syn":${r.syn},"end":${str(r.end)},"midstream":${r.midstream},` +
    `"retransmittedBytes":${r.retransmittedBytes}${r.resumes !== undefined ? `,"resumes":${r.resumes}` : ''}${r.sha256 !== undefined ? `,"sha256":${str(r.sha256)}` : ''},` +
    `"packets":${r.packets},"duplicates":${r.duplicates}}`
  );
}

const PLAIN = /^[\w.:[\]%-]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}
