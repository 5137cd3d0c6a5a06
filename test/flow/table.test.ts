import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../src/capture/linktypes';
import { FlowTable } from '../../src/flow/table';
import type { UdpFlow } from '../../src/flow/connection';
import { selectPorts } from '../../src/input/feed';
import { StreamSummary, type StreamRecord } from '../../src/session/stream-summary';
import { Collector, data, type CollectedConnection } from '../helpers/collect';
import { tcpSegment, udpDatagram } from '../helpers/packets';

const RAW = LINKTYPE.RAW;

/** A client (127.0.0.1:40000) talking to a server (127.0.0.2:24000). */
const c2s = (seq: number, flags: string, payload = '', ack = 0, extra = {}) =>
  tcpSegment({ src: '127.0.0.1', dst: '127.0.0.2', sport: 40000, dport: 24000, seq, ack, flags, payload: Buffer.from(payload), ...extra });
const s2c = (seq: number, flags: string, payload = '', ack = 0, extra = {}) =>
  tcpSegment({ src: '127.0.0.2', dst: '127.0.0.1', sport: 24000, dport: 40000, seq, ack, flags, payload: Buffer.from(payload), ...extra });

function feed(pkts: Buffer[], opts = {}, t0 = 1e15, step = 1000): { col: Collector; table: FlowTable } {
  const col = new Collector();
  const table = new FlowTable(col, opts);
  pkts.forEach((p, i) => table.push(RAW, p, p.length, t0 + i * step));
  table.finish();
  return { col, table };
}

const handshake = [c2s(100, 'S'), s2c(500, 'SA', '', 101), c2s(101, 'A', '', 501)];

describe('flow table', () => {
  it('remembers at most maxClosed closed connections: late packets of recent ones are late, the forgotten make a new connection', () => {
    const conn = (port: number) => {
      const a = (seq: number, flags: string, ack = 0) => tcpSegment({ src: '127.0.0.1', dst: '127.0.0.2', sport: port, dport: 24000, seq, ack, flags });
      const b = (seq: number, flags: string, ack = 0) => tcpSegment({ src: '127.0.0.2', dst: '127.0.0.1', sport: 24000, dport: port, seq, ack, flags });
      return { open: [a(100, 'S'), b(500, 'SA', 101), a(101, 'FA', 501), b(501, 'FA', 102)], late: a(102, 'A', 502) };
    };
    const conns = Array.from({ length: 300 }, (_, i) => conn(30000 + i));
    const pkts = [...conns.flatMap((c) => c.open), conns[299]!.late, conns[250]!.late, conns[0]!.late];
    const { col, table } = feed(pkts, { maxClosed: 100 });
    // the two recent ones are late packets; the first was forgotten: its late ACK opens a connection
    expect(table.stats.lateTcpPackets).toBe(2);
    expect(col.connections).toHaveLength(301);
    expect(col.connections[300]!.conn.client.port).toBe(30000);
  });

  it('names the client and server from the SYN and delivers both directions', () => {
    const { col } = feed([...handshake, c2s(101, 'PA', 'ping', 501), s2c(501, 'PA', 'pong', 105), c2s(105, 'FA', '', 505), s2c(505, 'FA', '', 106), c2s(106, 'A', '', 506)]);
    expect(col.connections).toHaveLength(1);
    const cc = col.connections[0]!;
    expect(cc.conn.client).toEqual({ addr: '127.0.0.1', port: 40000 });
    expect(cc.conn.server).toEqual({ addr: '127.0.0.2', port: 24000 });
    expect(data(cc.c2s).toString()).toBe('ping');
    expect(data(cc.s2c).toString()).toBe('pong');
    expect([cc.c2s.end, cc.s2c.end]).toEqual(['fin', 'fin']);
    expect(cc.conn.state).toBe('closed');
  });

  it('without a SYN, the --port side is the server; without --port, the lower port', () => {
    const mid = [s2c(501, 'PA', 'hello', 101)];
    expect(feed(mid).col.connections[0]!.conn.server.port).toBe(24000);
    const high = [tcpSegment({ src: '127.0.0.2', dst: '127.0.0.1', sport: 30000, dport: 24000, seq: 1, flags: 'PA', payload: Buffer.from('x') })];
    expect(feed(high).col.connections[0]!.conn.server.port).toBe(24000);
    expect(feed(high, { serverPorts: new Set([30000]) }).col.connections[0]!.conn.server.port).toBe(30000);
  });

  it('a connection joined mid-way is marked so and starts at the first byte seen', () => {
    const { col } = feed([c2s(7000, 'PA', 'abc', 900), c2s(7003, 'PA', 'def', 900)]);
    const cc = col.connections[0]!;
    expect(cc.conn.c2s.midstream).toBe(true);
    expect(data(cc.c2s).toString()).toBe('abcdef');
  });

  it('RST ends both directions; payload after it (or on it) is not delivered', () => {
    const { col } = feed([...handshake, c2s(101, 'PA', 'abc', 501), s2c(501, 'RA', 'rstdata', 104), c2s(104, 'PA', 'late', 501)]);
    const cc = col.connections[0]!;
    expect([cc.c2s.end, cc.s2c.end]).toEqual(['rst', 'rst']);
    expect(data(cc.c2s).toString()).toBe('abc');
    expect(data(cc.s2c).length).toBe(0);
    expect(cc.conn.state).toBe('reset');
  });

  it('an RST far outside the stream is ignored', () => {
    const { col, table } = feed([...handshake, s2c(190000, 'R'), c2s(101, 'PA', 'abc', 501)]);
    expect(table.stats.ignoredResets).toBe(1);
    expect(data(col.connections[0]!.c2s).toString()).toBe('abc');
  });

  it('port reuse after close starts a new connection', () => {
    const first = [...handshake, c2s(101, 'FA', '', 501), s2c(501, 'FA', '', 102), c2s(102, 'A', '', 502)];
    const second = [c2s(9000, 'S'), s2c(3000, 'SA', '', 9001), c2s(9001, 'PA', 'again', 3001)];
    const { col } = feed([...first, ...second]);
    expect(col.connections).toHaveLength(2);
    expect(data(col.connections[1]!.c2s).toString()).toBe('again');
    expect(col.connections[1]!.conn.c2s.synSeen).toBe(true);
  });

  it('the same packet captured twice (loopback) is delivered once and counted apart from retransmissions', () => {
    const pkts = [...handshake, c2s(101, 'PA', 'abc', 501, { ipId: 7 }), s2c(501, 'A', '', 104)];
    const doubled = pkts.flatMap((p) => [p, p]);
    const col = new Collector();
    const table = new FlowTable(col);
    // each copy 10 µs after the first; real retransmissions come much later
    doubled.forEach((p, i) => table.push(RAW, p, p.length, 1e15 + Math.floor(i / 2) * 100_000 + (i % 2) * 10));
    // a real retransmission: same bytes, new IP id, 200 ms later
    table.push(RAW, c2s(101, 'PA', 'abc', 501, { ipId: 9 }), 43, 1e15 + 1e6);
    table.finish();
    const cc = col.connections[0]!;
    expect(data(cc.c2s).toString()).toBe('abc');
    expect(table.stats.loopbackDuplicates).toBe(pkts.length);
    expect(cc.conn.duplicates).toEqual([3, 2]);
    expect(cc.conn.c2s.stats.retransmittedBytes).toBe(3);
  });

  it('idle connections are flushed as timeout and dropped from the table', () => {
    const col = new Collector();
    const table = new FlowTable(col, { idleTimeoutUs: 60e6 });
    const pkts = [...handshake, c2s(101, 'PA', 'abc', 501)];
    pkts.forEach((p, i) => table.push(RAW, p, p.length, 1e15 + i));
    const other = udpDatagram({ payload: Buffer.from('x'), dport: 5000 });
    table.push(RAW, other, other.length, 1e15 + 120e6);
    expect(col.connections[0]!.c2s.end).toBe('timeout');
    expect(table.stats.evicted).toBe(1);
    expect(table.size).toBe(1); // only the UDP flow is left
  });

  it('a connection evicted for idleness resumes at its exact sequence numbers: reordered bytes after the pause are not lost', () => {
    const col = new Collector();
    const table = new FlowTable(col, { idleTimeoutUs: 300e6 });
    const t0 = 1e15;
    [...handshake, c2s(101, 'PA', 'abc', 501), s2c(501, 'PA', 'XY', 104)].forEach((p, i) => table.push(RAW, p, p.length, t0 + i));
    // 10 minutes later (evicted meanwhile by other traffic), the next segments arrive out of order
    const other = udpDatagram({ payload: Buffer.from('x'), dport: 5000 });
    table.push(RAW, other, other.length, t0 + 400e6);
    const later = [c2s(107, 'PA', 'ghi', 503), c2s(104, 'PA', 'def', 503), s2c(503, 'PA', 'Z', 110), c2s(110, 'FA', '', 504), s2c(504, 'FA', '', 111)];
    later.forEach((p, i) => table.push(RAW, p, p.length, t0 + 600e6 + i));
    table.finish();
    expect(col.connections).toHaveLength(2);
    const [first, second] = col.connections as [CollectedConnection, CollectedConnection];
    expect(first.c2s.end).toBe('timeout');
    expect(second.conn.resumes).toBe(first.conn.id);
    expect(data(first.c2s).toString() + data(second.c2s).toString()).toBe('abcdefghi');
    expect(data(first.s2c).toString() + data(second.s2c).toString()).toBe('XYZ');
    expect([second.c2s.gaps, second.s2c.gaps]).toEqual([[], []]);
    // offsets continue the first connection's
    expect(second.conn.c2s.resumed).toBe(true);
    expect(table.stats.resumed).toBe(1);
  });

  it('a bare SYN costs a few numbers until answered; beyond the cap the oldest are dropped and counted', () => {
    const col = new Collector();
    const table = new FlowTable(col, { maxHalfOpen: 1000 });
    const t0 = 1e15;
    for (let i = 0; i < 5000; i++) {
      const syn = tcpSegment({ src: `10.0.${i >> 8}.${i & 0xff}`, dst: '127.0.0.1', sport: 1024 + i, dport: 24000, seq: i * 7, flags: 'S' });
      table.push(RAW, syn, syn.length, t0 + i);
    }
    expect(col.connections).toHaveLength(0); // nothing reached the listener yet
    expect(table.stats.halfOpenDropped).toBe(4000);
    // the last SYN gets its answer: a connection with the SYN's ISN, starting at the first byte
    const last = 4999;
    const src = `10.0.${last >> 8}.${last & 0xff}`;
    const synAck = tcpSegment({ src: '127.0.0.1', dst: src, sport: 24000, dport: 1024 + last, seq: 900, ack: last * 7 + 1, flags: 'SA' });
    const hello = tcpSegment({ src, dst: '127.0.0.1', sport: 1024 + last, dport: 24000, seq: last * 7 + 1, ack: 901, flags: 'PA', payload: Buffer.from('hi') });
    table.push(RAW, synAck, synAck.length, t0 + 6000);
    table.push(RAW, hello, hello.length, t0 + 6001);
    expect(col.connections).toHaveLength(1);
    const cc = col.connections[0]!;
    expect(cc.conn.client).toEqual({ addr: src, port: 1024 + last });
    expect(cc.conn.c2s.synSeen && cc.conn.s2c.synSeen).toBe(true);
    expect(cc.conn.c2s.midstream).toBe(false);
    expect(cc.conn.packets).toEqual([2, 1]);
    table.finish();
    expect(data(cc.c2s).toString()).toBe('hi');
    // the 999 still unanswered are reported at the end as the connections they tried to be
    expect(col.connections).toHaveLength(1000);
    expect(table.stats.connections).toBe(1000);
    expect(col.connections[1]!.conn.c2s.synSeen).toBe(true);
  });

  it('memory stays flat: closed connections leave the table', () => {
    const table = new FlowTable({});
    let t = 1e15;
    let maxSize = 0;
    for (let i = 0; i < 20_000; i++) {
      const sport = 1024 + (i % 60000);
      const mk = (src: string, dst: string, sp: number, dp: number, seq: number, ack: number, flags: string, payload = '') =>
        tcpSegment({ src, dst, sport: sp, dport: dp, seq, ack, flags, payload: Buffer.from(payload) });
      const seq = [
        mk('10.0.0.1', '10.0.0.2', sport, 24000, 1, 0, 'S'),
        mk('10.0.0.2', '10.0.0.1', 24000, sport, 1, 2, 'SA'),
        mk('10.0.0.1', '10.0.0.2', sport, 24000, 2, 2, 'PA', 'hi'),
        mk('10.0.0.1', '10.0.0.2', sport, 24000, 4, 2, 'FA'),
        mk('10.0.0.2', '10.0.0.1', 24000, sport, 2, 5, 'FA'),
      ];
      for (const p of seq) table.push(RAW, p, p.length, (t += 100));
      maxSize = Math.max(maxSize, table.size);
    }
    // a closed connection leaves the table at once (a small tombstone catches its late packets)
    expect(maxSize).toBeLessThanOrEqual(1);
    expect(table.stats.connections).toBe(20_000);
  });

  it('a connection from an endpoint to itself (both halves of its key equal) carries its bytes one way', () => {
    const self = (seq: number, flags: string, payload = '', ack = 0) => tcpSegment({ src: '10.0.0.1', dst: '10.0.0.1', sport: 5000, dport: 5000, seq, ack, flags, payload: Buffer.from(payload) });
    const { col } = feed([self(100, 'S'), self(101, 'PA', 'ab', 0), self(103, 'PA', 'cd', 0)], {}, 1e15, 1e6);
    expect(col.connections).toHaveLength(1);
    expect(data(col.connections[0]!.c2s).toString()).toBe('abcd');
  });

  it('lent packets: retained bytes still unacknowledged are copied before the caller reuses its buffer', () => {
    const run = (again: string): number => {
      const col = new Collector();
      const table = new FlowTable(col, { lentPackets: true });
      // one buffer for every packet, as a reader that reads into the same buffer again and again
      const slot = Buffer.alloc(2048);
      const pkts = [...handshake, c2s(101, 'PA', 'hello', 501), s2c(501, 'A', '', 103), c2s(101, 'PA', again, 501), c2s(106, 'FA', '', 501), s2c(501, 'FA', '', 107)];
      pkts.forEach((p, i) => {
        slot.fill(0x55);
        p.copy(slot);
        table.push(RAW, slot.subarray(0, p.length), p.length, 1e15 + i * 1e6);
        table.returnPackets();
      });
      table.finish();
      expect(data(col.connections[0]!.c2s).toString()).toBe('hello');
      return col.connections[0]!.conn.c2s.stats.overlapConflicts;
    };
    // 'he' acknowledged, 'llo' retained: the retransmission is compared with the copy, not with the reused buffer
    expect(run('hello')).toBe(0);
    expect(run('heLLo')).toBe(2);
  });

  it('UDP datagrams are units, grouped into flows by the same key', () => {
    const col = new Collector();
    const got: string[] = [];
    const table = new FlowTable({ ...col, datagram: (_f, dir, payload) => got.push(`${dir}:${payload.toString()}`) }, { serverPorts: new Set([24001]) });
    const a = udpDatagram({ src: '127.0.0.1', dst: '127.0.0.1', sport: 50000, dport: 24001, payload: Buffer.from('pos1'), ipId: 1 });
    const b = udpDatagram({ src: '127.0.0.1', dst: '127.0.0.1', sport: 24001, dport: 50000, payload: Buffer.from('ack1'), ipId: 2 });
    table.push(RAW, a, a.length, 1);
    table.push(RAW, b, b.length, 2);
    table.push(RAW, a, a.length, 3); // the same datagram captured twice
    expect(got).toEqual(['c2s:pos1', 's2c:ack1']);
    expect(table.stats.udpFlows).toBe(1);
    expect(table.stats.loopbackDuplicates).toBe(1);
  });

  it('datagrams of flows interleaved one by one each reach their own flow, in the right direction', () => {
    const hosts = ['127.0.0.1', '127.0.0.2', '10.0.0.1'];
    const ports = [24001, 24001, 50000, 50001];
    const endpoint = fc.tuple(fc.constantFrom(...hosts), fc.constantFrom(...ports));
    fc.assert(
      fc.property(fc.array(fc.tuple(endpoint, endpoint), { minLength: 1, maxLength: 60 }), (pairs) => {
        const seen: [UdpFlow, string, number][] = [];
        const table = new FlowTable({ datagram: (f, dir, payload) => seen.push([f, dir, payload.readUInt32BE(0)]) }, { serverPorts: new Set([24001]) });
        pairs.forEach(([[src, sport], [dst, dport]], i) => {
          const payload = Buffer.alloc(4);
          payload.writeUInt32BE(i);
          const d = udpDatagram({ src, dst, sport, dport, payload, ipId: i });
          table.pushAt(RAW, Buffer.concat([Buffer.alloc(i % 5), d]), i % 5, (i % 5) + d.length, d.length, 1e6 + i);
        });
        expect(seen.map((x) => x[2])).toEqual(pairs.map((_, i) => i));
        const key = (a: string, b: string): string => [a, b].sort().join(' ');
        const flows = new Map<string, UdpFlow>();
        seen.forEach(([f, dir], i) => {
          const [[src, sport], [dst, dport]] = pairs[i]!;
          const from = `${src}:${sport}`;
          const to = `${dst}:${dport}`;
          const [client, server] = dir === 'c2s' ? [from, to] : [to, from];
          expect(`${f.client.addr}:${f.client.port}`).toBe(client);
          expect(`${f.server.addr}:${f.server.port}`).toBe(server);
          const k = key(from, to);
          if (!flows.has(k)) flows.set(k, f);
          expect(f).toBe(flows.get(k));
        });
        expect(table.stats.udpFlows).toBe(flows.size);
      }),
      { numRuns: 300 },
    );
  });

  it('a datagram captured twice is found with lent buffers as with its own, whenever the buffers are returned and reused', () => {
    const payloads = ['aaaa', 'aaab', 'baaa', 'aaaa'.repeat(12), 'aaaa'.repeat(11) + 'aaab'].map((x) => Buffer.from(x));
    const datagram = fc.record({ p: fc.nat(payloads.length - 1), ipId: fc.nat(2), up: fc.boolean(), twice: fc.boolean(), gap: fc.nat(3000), ret: fc.nat(3) });
    fc.assert(
      fc.property(fc.array(datagram, { minLength: 1, maxLength: 80 }), (steps) => {
        const run = (lent: boolean): string[] => {
          const seen: string[] = [];
          const table = new FlowTable({ datagram: (_f, dir, payload) => seen.push(`${dir} ${payload.toString()}`) }, { serverPorts: new Set([24001]), lentPackets: lent });
          // lent: every packet is written into one buffer, scribbled over once it is returned
          const chunk = Buffer.alloc(1 << 14);
          let at = 0;
          let ts = 1e6;
          const push = (d: Buffer): void => {
            if (!lent) return void table.push(RAW, Buffer.from(d), d.length, ts);
            d.copy(chunk, at);
            table.pushAt(RAW, chunk, at, at + d.length, d.length, ts);
            at += d.length;
          };
          for (const x of steps) {
            const d = udpDatagram({ sport: x.up ? 50000 : 24001, dport: x.up ? 24001 : 50000, payload: payloads[x.p]!, ipId: x.ipId });
            push(d);
            if (x.twice) {
              if (lent && x.ret === 0) {
                table.returnPackets();
                chunk.fill(0x5a);
                at = 0;
              }
              push(d);
            }
            ts += x.gap;
            if (lent && x.ret === 1) {
              table.returnPackets();
              chunk.fill(0xa5);
              at = 0;
            }
          }
          table.finish();
          seen.push(`duplicates ${table.stats.loopbackDuplicates}`);
          return seen;
        };
        const lent = run(true);
        expect(lent).toEqual(run(false));
        // and both are right: a copy is the same length, IP id and first 32 bytes within 2 ms
        const last = [null, null].map(() => ({ ts: -Infinity, key: '' }));
        let dups = 0;
        let ts = 1e6;
        for (const x of steps) {
          const key = `${payloads[x.p]!.length} ${x.ipId} ${payloads[x.p]!.subarray(0, 32).toString()}`;
          for (let k = 0; k < (x.twice ? 2 : 1); k++) {
            const l = last[x.up ? 0 : 1]!;
            if (ts - l.ts <= 2000 && l.key === key) dups++;
            l.ts = ts;
            l.key = key;
          }
          ts += x.gap;
        }
        expect(lent[lent.length - 1]).toBe(`duplicates ${dups}`);
      }),
      { numRuns: 400 },
    );
  });

  it('a listener told datagrams where they lie sums them up as one handed views does', () => {
    const run = (wrap: boolean): StreamRecord[] => {
      const records: StreamRecord[] = [];
      const summary = new StreamSummary((r) => records.push(r), { udp: true, hash: true });
      // selectPorts forwards datagram() only: the table hands that listener views
      const table = new FlowTable(wrap ? selectPorts(summary, new Set([24001])) : summary, { serverPorts: new Set([24001]) });
      for (let i = 0; i < 40; i++) {
        const sport = 50000 + (i % 3);
        const up = i % 2 === 0;
        const d = udpDatagram({ sport: up ? sport : 24001, dport: up ? 24001 : sport, payload: Buffer.from(`datagram ${i}`), ipId: i });
        table.pushAt(RAW, Buffer.concat([Buffer.from('pad'), d, Buffer.from('tail')]), 3, 3 + d.length, d.length, 1e6 + i);
      }
      table.finish();
      return records;
    };
    const direct = run(false);
    expect(direct).toHaveLength(6);
    expect(direct.every((r) => r.bytes > 0 && r.sha256)).toBe(true);
    expect(direct).toEqual(run(true));
  });
});
