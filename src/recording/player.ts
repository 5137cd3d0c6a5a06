import { endpointString, type Endpoint, type StreamEnd } from '../core/types';
import { applyFacts, TcpConnection, UdpFlow, type ConnectionState, type FlowListener } from '../flow/connection';
import { bitDir, type AddrPort, type EventRecord } from './format';
import { openRecording, type ReadRecordingOptions, type RecordingInput, type RecordingReadResult } from './reader';

const endpoint = (a: AddrPort): Endpoint => ({ addr: a[0], port: a[1] });

/**
 * Turns a recording's records back into the flow listener calls that made them, with the same
 * connection objects the flow table builds (their figures kept up to date), so that everything
 * downstream of the flow table (decoding, the TUI, replay) reads a recording like a capture.
 * Call order: `record(r)` for each record in file order, then `finish()`.
 */
export class RecordingPlayer {
  private readonly tcp = new Map<number, TcpConnection>();
  private readonly udp = new Map<number, UdpFlow>();
  lastTs = 0;
  connections = 0;
  udpFlows = 0;
  /** Records that name a connection the recording never opened (a corrupt or edited file). */
  orphans = 0;

  constructor(private readonly listener: FlowListener) {}

  record(r: EventRecord): void {
    if (r.ts > this.lastTs) this.lastTs = r.ts;
    switch (r.t) {
      case 'open': {
        const client = endpoint(r.client);
        const server = endpoint(r.server);
        const key = `${r.p} ${endpointString(client)} ${endpointString(server)}`;
        // an id opened twice is a corrupt or edited file: the second open is skipped
        if (this.tcp.has(r.c) || this.udp.has(r.c)) return void this.orphans++;
        if (r.p === 'tcp') {
          const c = new TcpConnection(r.c, key, client, server, endpointString(client), r.ts);
          c.state = 'open';
          if (r.r !== undefined) c.resumes = r.r;
          this.tcp.set(r.c, c);
          this.connections++;
          this.listener.open?.(c, r.ts);
        } else {
          const f = new UdpFlow(r.c, key, client, server, endpointString(client), r.ts);
          this.udp.set(r.c, f);
          this.udpFlows++;
          this.listener.udpOpen?.(f, r.ts);
        }
        return;
      }
      case 'data': {
        const dir = bitDir(r.d);
        const c = this.tcp.get(r.c);
        if (c) {
          c.lastTs = r.ts;
          c.packets[r.d]++;
          c.stream(dir).stats.bytes += r.b.length;
          this.listener.data?.(c, dir, r.b, r.o, r.ts);
          return;
        }
        const f = this.udp.get(r.c);
        if (!f) return void this.orphans++;
        f.lastTs = r.ts;
        f.packets[r.d]++;
        f.bytes[r.d] += r.n ?? r.b.length;
        if (r.n !== undefined && r.n > r.b.length) f.truncated[r.d]++;
        this.listener.datagram?.(f, dir, r.b, r.n ?? r.b.length, r.ts);
        return;
      }
      case 'gap': {
        const c = this.tcp.get(r.c);
        if (!c) return void this.orphans++;
        const st = c.stream(bitDir(r.d)).stats;
        st.gaps++;
        st.gapBytes += r.n;
        this.listener.gap?.(c, bitDir(r.d), r.n, r.o, r.ts, r.why);
        return;
      }
      case 'end': {
        const c = this.tcp.get(r.c);
        if (!c) return void this.orphans++;
        this.endStream(c, r.d, r.why, r.ts);
        return;
      }
      case 'close': {
        const c = this.tcp.get(r.c);
        if (c) {
          this.tcp.delete(r.c);
          c.state = r.state as ConnectionState;
          c.closedAt = r.ts;
          if (r.f) applyFacts(c, r.f);
          this.listener.close?.(c, r.ts);
          return;
        }
        const f = this.udp.get(r.c);
        if (!f) return void this.orphans++;
        this.udp.delete(r.c);
        f.closed = true;
        f.end = r.state as StreamEnd;
        if (r.f) applyFacts(f, r.f);
        this.listener.udpClose?.(f, r.ts);
        return;
      }
      case 'keys': {
        const f = this.tcp.get(r.c) ?? this.udp.get(r.c);
        if (!f) return void this.orphans++;
        f.keys = { ...f.keys, ...r.k };
        return;
      }
      case 'finish':
        return;
    }
  }

  private endStream(c: TcpConnection, d: 0 | 1, why: StreamEnd, ts: number): void {
    const s = c.stream(bitDir(d));
    if (s.ended !== null) return;
    s.ended = why;
    if (why === 'rst') c.state = 'reset';
    else if (c.state !== 'reset') c.state = 'closing';
    this.listener.end?.(c, bitDir(d), why, ts);
  }

  /**
   * End what the recording left open (it was cut, or stopped mid-session) the way the flow
   * table ends a capture: remaining stream ends are 'open', then each connection closes.
   */
  finish(): void {
    const ts = this.lastTs;
    for (const c of [...this.tcp.values()]) {
      this.endStream(c, 0, 'open', ts);
      this.endStream(c, 1, 'open', ts);
      this.record({ t: 'close', c: c.id, ts, state: c.state === 'reset' ? 'reset' : 'closed' });
    }
    for (const f of [...this.udp.values()]) this.record({ t: 'close', c: f.id, ts, state: 'open' });
  }
}

export interface PlayResult {
  read: RecordingReadResult;
  player: RecordingPlayer;
}

/** Read a recording (a path, or one opened with openRecording) into a flow listener, as the flow table would have fed it. */
export async function playRecording(input: string | RecordingInput, listener: FlowListener, opts: ReadRecordingOptions = {}): Promise<PlayResult> {
  const rec = typeof input === 'string' ? await openRecording(input, opts) : input;
  const player = new RecordingPlayer(listener);
  try {
    const read = await rec.read((r) => player.record(r), opts);
    player.finish();
    return { read, player };
  } finally {
    if (typeof input === 'string') rec.close();
  }
}
