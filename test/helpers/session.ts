/** A whole TCP (and UDP) session as packets in a capture file, from application-level writes. */
import { PcapWriter } from '../../src/capture/file-writer';
import { LINKTYPE } from '../../src/capture/linktypes';
import { ethernet, tcpSegment, udpDatagram } from './packets';

export interface Write {
  dir: 'c2s' | 's2c';
  bytes: Buffer;
  /** Leave this write out of the capture (the peer still acknowledges it). */
  lost?: boolean;
  /** Leave only this segment of the write out. */
  loseSegment?: number;
  udp?: boolean;
  /** Packet time (µs) that passes before this write: an idle period. */
  pauseUs?: number;
  /** Segments of at most this many bytes for this write (default: the session's mss). */
  mss?: number;
}

/** Writes become segments of at most `mss` bytes; handshake first, FIN both ways last. */
export function writeSession(file: string, writes: Write[], opts: { sport?: number; dport?: number; mss?: number; t0?: number } = {}): void {
  const sport = opts.sport ?? 51000;
  const dport = opts.dport ?? 24000;
  const mss = opts.mss ?? 1400;
  let ts = opts.t0 ?? 1.7e15;
  const w = new PcapWriter(file, LINKTYPE.ETHERNET);
  const seq = { c2s: 1000, s2c: 5000 };
  const put = (p: Buffer) => w.write(ethernet(p), (ts += 100));
  const seg = (dir: 'c2s' | 's2c', flags: string, payload?: Buffer) =>
    tcpSegment({
      sport: dir === 'c2s' ? sport : dport,
      dport: dir === 'c2s' ? dport : sport,
      seq: seq[dir],
      ack: seq[dir === 'c2s' ? 's2c' : 'c2s'],
      flags,
      payload,
    });
  put(seg('c2s', 'S'));
  seq.c2s++;
  put(tcpSegment({ sport: dport, dport: sport, seq: seq.s2c, ack: seq.c2s, flags: 'SA' }));
  seq.s2c++;
  put(seg('c2s', 'A'));
  for (const wr of writes) {
    ts += wr.pauseUs ?? 0;
    if (wr.udp) {
      put(udpDatagram({ sport: wr.dir === 'c2s' ? sport + 1 : dport + 1, dport: wr.dir === 'c2s' ? dport + 1 : sport + 1, payload: wr.bytes }));
      continue;
    }
    const size = wr.mss ?? mss;
    for (let i = 0; i < wr.bytes.length; i += size) {
      const part = wr.bytes.subarray(i, i + size);
      const p = seg(wr.dir, 'PA', part);
      if (!wr.lost && wr.loseSegment !== i / size) put(p);
      seq[wr.dir] += part.length;
    }
    // The peer acknowledges everything sent so far (so lost segments become gaps).
    put(seg(wr.dir === 'c2s' ? 's2c' : 'c2s', 'A'));
  }
  put(seg('c2s', 'FA'));
  seq.c2s++;
  put(seg('s2c', 'FA'));
  seq.s2c++;
  put(seg('c2s', 'A'));
  w.close();
}
