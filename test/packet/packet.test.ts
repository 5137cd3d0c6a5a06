import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../src/capture/linktypes';
import { formatIpv6 } from '../../src/packet/address';
import { describePacket } from '../../src/packet/describe';
import { PacketDecoder } from '../../src/packet/packet';
import { FlowTable } from '../../src/flow/table';
import { ethernet, ipPacket, tcpSegment, udpDatagram } from '../helpers/packets';

const opts = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0]);

describe('packet view', () => {
  it('shows the IPv4 and TCP header fields the seeds print, and TCP options', () => {
    const pkt = ethernet(tcpSegment({ src: '10.1.2.3', dst: '10.9.8.7', sport: 5555, dport: 24000, seq: 42, ack: 7, flags: 'SA', options: opts, ipId: 321 }));
    const v = describePacket(LINKTYPE.ETHERNET, pkt);
    expect(v.link.etherType).toBe(0x0800);
    expect(v.ip).toMatchObject({
      version: 4,
      headerLength: 20,
      totalLength: 20 + 40,
      id: 321,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 6,
      src: '10.1.2.3',
      dst: '10.9.8.7',
    });
    expect(v.tcp).toMatchObject({ srcPort: 5555, dstPort: 24000, seq: 42, ack: 7, flags: ['SYN', 'ACK'], headerLength: 40 });
    expect(v.tcp!.options).toEqual({ mss: 1460, windowScale: 7, sackPermitted: true, timestamp: { value: 9, echo: 0 } });
  });

  it('walks IPv6 extension headers to the transport header', () => {
    const udp = udpDatagram({ payload: Buffer.from('pos'), v6: true, src: '2001:db8::1', dst: '::1' });
    // insert a hop-by-hop header (8 bytes) before UDP
    const hbh = Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]);
    const pkt = Buffer.concat([udp.subarray(0, 40), hbh, udp.subarray(40)]);
    pkt[6] = 0;
    pkt.writeUInt16BE(pkt.length - 40, 4);
    const v = describePacket(LINKTYPE.RAW, pkt);
    expect(v.ip).toMatchObject({ version: 6, headerLength: 48, protocol: 17, src: '2001:db8::1', dst: '::1' });
    expect(v.udp).toMatchObject({ srcPort: 40000, dstPort: 24001, length: 11 });
    expect(v.capturedPayloadLength).toBe(3);
  });

  it('decodes BSD loopback in either byte order, Linux SLL and SLL2', () => {
    const ip = tcpSegment({ seq: 1, flags: 'S' });
    const d = new PacketDecoder();
    const le = Buffer.alloc(4);
    le.writeUInt32LE(2);
    const be = Buffer.alloc(4);
    be.writeUInt32BE(2);
    expect(d.decode(LINKTYPE.NULL, Buffer.concat([le, ip]))).toBe('tcp');
    expect(d.decode(LINKTYPE.LOOP, Buffer.concat([be, ip]))).toBe('tcp');
    const sll = Buffer.alloc(16);
    sll.writeUInt16BE(0x0800, 14);
    expect(d.decode(LINKTYPE.LINUX_SLL, Buffer.concat([sll, ip]))).toBe('tcp');
    const sll2 = Buffer.alloc(20);
    sll2.writeUInt16BE(0x0800, 0);
    sll2[10] = 4;
    expect(d.decode(LINKTYPE.LINUX_SLL2, Buffer.concat([sll2, ip]))).toBe('tcp');
    expect(d.pkt.sllPacketType).toBe(4);
  });

  it('formats IPv6 addresses as RFC 5952 says', () => {
    const b = Buffer.from('20010db8000000000000000000000001', 'hex');
    expect(formatIpv6(b, 0)).toBe('2001:db8::1');
    expect(formatIpv6(Buffer.alloc(16), 0)).toBe('::');
    expect(formatIpv6(Buffer.from('00000000000000000000ffff7f000001', 'hex'), 0)).toBe('::ffff:127.0.0.1');
  });
});

describe('bad packets', () => {
  it('a truncated or malformed header is counted with its reason, never thrown', () => {
    const table = new FlowTable({});
    const good = ethernet(tcpSegment({ seq: 1, flags: 'S' }));
    table.push(LINKTYPE.ETHERNET, good.subarray(0, 30), good.length, 1);
    const badOffset = Buffer.from(good);
    badOffset[14 + 20 + 12] = 0x20; // TCP data offset 8 bytes
    table.push(LINKTYPE.ETHERNET, badOffset, badOffset.length, 2);
    expect(table.stats.malformed).toBe(2);
    expect(table.stats.malformedReasons).toEqual({ 'truncated IPv4 header': 1, 'TCP data offset 8 < 20': 1 });
  });

  it('random bytes on every link type never crash the decoder or the flow table', () => {
    const table = new FlowTable({});
    const links = [0, 1, 9, 12, 101, 108, 113, 228, 229, 276];
    fc.assert(
      fc.property(fc.constantFrom(...links), fc.uint8Array({ maxLength: 200 }), fc.nat(), (lt, bytes, ts) => {
        const b = Buffer.from(bytes);
        table.push(lt, b, b.length, ts);
      }),
      { numRuns: 3000 },
    );
    // and random bytes behind valid headers
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        b[0] = 0x45;
        table.push(LINKTYPE.RAW, b, b.length, 1);
        b[0] = 0x60;
        table.push(LINKTYPE.RAW, b, b.length, 1);
      }),
      { numRuns: 2000 },
    );
    table.finish();
  });
});

describe('a packet where it lies in a larger buffer', () => {
  // every offset field of DecodedPacket: they index buf, so they move with the packet
  const OFFSETS = new Set(['l3Off', 'ipEnd', 'srcOff', 'dstOff', 'frag6Off', 'l4Off', 'payloadOff']);
  // offsets a decode leaves as they were (it stopped before them) keep this mark in both decoders
  const UNSET = -7;
  const decoder = (): PacketDecoder => {
    const d = new PacketDecoder();
    for (const k of OFFSETS) (d.pkt as unknown as Record<string, number>)[k] = UNSET;
    return d;
  };
  const fields = (d: PacketDecoder, shift: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d.pkt)) {
      if (k === 'buf' || k === 'start' || k === 'end') continue;
      out[k] = OFFSETS.has(k) && typeof v === 'number' && v >= 0 ? v - shift : v;
    }
    return out;
  };
  const le = Buffer.alloc(4);
  le.writeUInt32LE(2);
  const sll = Buffer.alloc(16);
  sll.writeUInt16BE(0x0800, 14);
  const sll2 = Buffer.alloc(20);
  sll2.writeUInt16BE(0x0800, 0);
  const vlan = (ip: Buffer): Buffer => {
    const e = ethernet(ip);
    return Buffer.concat([e.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x07]), e.subarray(12)]);
  };
  const tcp = tcpSegment({ seq: 7, ack: 9, flags: 'PA', payload: Buffer.from('hello there'), options: opts });
  const udp6 = udpDatagram({ payload: Buffer.from('pos 1 2'), v6: true, src: '2001:db8::1', dst: '::1' });
  const bases: [number, Buffer][] = [
    [LINKTYPE.ETHERNET, ethernet(tcp)],
    [LINKTYPE.ETHERNET, ethernet(udpDatagram({ payload: Buffer.from('x'.repeat(40)) }))],
    [LINKTYPE.ETHERNET, ethernet(udp6)],
    [LINKTYPE.ETHERNET, vlan(tcp)],
    [LINKTYPE.ETHERNET, ethernet(ipPacket(1, Buffer.from([8, 0, 0, 0, 1, 2, 3, 4])))],
    [LINKTYPE.NULL, Buffer.concat([le, tcp])],
    [LINKTYPE.LINUX_SLL, Buffer.concat([sll, tcp])],
    [LINKTYPE.LINUX_SLL2, Buffer.concat([sll2, tcp])],
    [LINKTYPE.PPP, Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), tcp])],
    [LINKTYPE.RAW, udp6],
  ];

  it('decodes as the same packet alone, whole, cut short or damaged, with random bytes around it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...bases),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        ([lt, base], before, after, cut, flips) => {
          const pkt = Buffer.from(base.subarray(0, base.length - (cut % (base.length + 1))));
          for (const [at, v] of flips) if (pkt.length) pkt[at % pkt.length] = v;
          const whole = Buffer.concat([before, pkt, after]);
          const alone = decoder();
          const inPlace = decoder();
          const status = alone.decode(lt, pkt);
          expect(inPlace.decode(lt, whole, before.length, before.length + pkt.length)).toBe(status);
          expect(fields(inPlace, before.length)).toEqual(fields(alone, 0));
        },
      ),
      { numRuns: 4000 },
    );
  });
});

describe('IP fragments', () => {
  it('reassembles IPv4 fragments (out of order) into the datagram they carry', () => {
    const payload = Buffer.alloc(3000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const whole = udpDatagram({ payload, ipId: 77 });
    const l4 = whole.subarray(20);
    const frags: Buffer[] = [];
    for (let off = 0; off < l4.length; off += 1480) {
      const part = l4.subarray(off, off + 1480);
      const f = ipPacket(17, part, '127.0.0.1', '127.0.0.1', 77);
      const more = off + 1480 < l4.length;
      f.writeUInt16BE((more ? 0x2000 : 0) | (off / 8), 6);
      frags.push(f);
    }
    const got: Buffer[] = [];
    const table = new FlowTable({ datagram: (_f, _d, p) => got.push(Buffer.from(p)) });
    for (const f of [frags[2]!, frags[0]!, frags[1]!]) table.push(LINKTYPE.RAW, f, f.length, 1);
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(payload)).toBe(true);
    expect(table.defrag.stats.reassembled).toBe(1);
  });

  /** An IPv4 fragment of datagram 9 carrying `part` at byte `off`. */
  const frag = (part: Buffer, off: number, more: boolean, id = 9): Buffer => {
    const f = ipPacket(17, part, '127.0.0.1', '127.0.0.1', id);
    f.writeUInt16BE((more ? 0x2000 : 0) | (off / 8), 6);
    return f;
  };

  it('fragments that contradict each other are counted, never built, and reading goes on', () => {
    const got: Buffer[] = [];
    const table = new FlowTable({ datagram: (_f, _d, p) => got.push(Buffer.from(p)) });
    const eight = Buffer.alloc(8, 1);
    // the last fragment ends at 16, before pieces already held at 16-32
    for (const f of [frag(eight, 0, true), frag(eight, 16, true), frag(eight, 24, true), frag(eight, 8, false)]) table.push(LINKTYPE.RAW, f, f.length, 1);
    // two different ends
    for (const f of [frag(eight, 8, false, 10), frag(eight, 16, false, 10), frag(eight, 0, true, 10)]) table.push(LINKTYPE.RAW, f, f.length, 1);
    // a datagram over 65535 bytes (ping of death)
    const big = Buffer.alloc(1480, 2);
    for (let off = 0; off < 65528; off += 1480) table.push(LINKTYPE.RAW, frag(big.subarray(0, Math.min(1480, 65528 - off)), off, true, 11), 0, 1);
    const tail = frag(Buffer.alloc(16), 65528, false, 11);
    table.push(LINKTYPE.RAW, tail, tail.length, 1);
    // a good datagram after all that still comes through
    const good = udpDatagram({ payload: Buffer.from('fine'), ipId: 12 });
    table.push(LINKTYPE.RAW, good, good.length, 1);
    expect(table.defrag.stats.inconsistent).toBe(3);
    expect(table.defrag.stats.reassembled).toBe(0);
    expect(got.map((b) => b.toString())).toEqual(['fine']);
  });
});
