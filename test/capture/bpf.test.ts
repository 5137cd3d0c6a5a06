import { describe, expect, it } from 'vitest';
import { compileOfflineFilter, dltForLinkType, offlineFilter } from '../../src/capture/bpf';
import { LINKTYPE } from '../../src/capture/linktypes';
import { GamesniffError } from '../../src/core/errors';
import { ethernet, ipPacket, tcpSegment, udpDatagram } from '../helpers/packets';

const tcp = (dport: number, o: { src?: string; dst?: string; v6?: boolean } = {}) =>
  tcpSegment({ sport: 40000, dport, seq: 1, flags: 'S', ...o });
const udp = (dport: number, o: { src?: string; dst?: string; v6?: boolean } = {}) =>
  udpDatagram({ sport: 40000, dport, payload: Buffer.from('hi'), ...o });
const icmp = (o: { src?: string; dst?: string } = {}) => ipPacket(1, Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]), o.src, o.dst);

/** The same IP packets, framed for Ethernet (1) and raw IP (101). */
const framings: Array<[string, number, (ip: Buffer) => Buffer]> = [
  ['Ethernet', LINKTYPE.ETHERNET, ethernet],
  ['raw IP', LINKTYPE.RAW, (ip) => ip],
];

describe.each(framings)('offline BPF on %s', (_name, linkType, frame) => {
  const test = (expr: string, ip: Buffer): boolean => {
    const p = frame(ip);
    return compileOfflineFilter(expr, linkType)(p, p.length);
  };

  it('tcp port 24000', () => {
    expect(test('tcp port 24000', tcp(24000))).toBe(true);
    expect(test('tcp port 24000', tcp(24001))).toBe(false);
    expect(test('tcp port 24000', udp(24000))).toBe(false);
    // either side
    expect(test('tcp port 24000', tcpSegment({ sport: 24000, dport: 50000, seq: 1, flags: 'SA' }))).toBe(true);
  });

  it('(tcp or udp) and (portrange 24000-24010), the filter gamesniff builds from --port', () => {
    const f = '(tcp or udp) and (portrange 24000-24010)';
    expect(test(f, tcp(24000))).toBe(true);
    expect(test(f, tcp(24010))).toBe(true);
    expect(test(f, udp(24005))).toBe(true);
    expect(test(f, tcp(24011))).toBe(false);
    expect(test(f, udp(23999))).toBe(false);
    expect(test(f, icmp())).toBe(false);
  });

  it('udp', () => {
    expect(test('udp', udp(1))).toBe(true);
    expect(test('udp', tcp(1))).toBe(false);
    expect(test('udp', udp(53, { v6: true, src: '::1', dst: '::1' }))).toBe(true);
  });

  it('host 10.0.0.1', () => {
    expect(test('host 10.0.0.1', tcp(80, { src: '10.0.0.1', dst: '10.0.0.2' }))).toBe(true);
    expect(test('host 10.0.0.1', tcp(80, { src: '10.0.0.2', dst: '10.0.0.1' }))).toBe(true);
    expect(test('host 10.0.0.1', tcp(80, { src: '10.0.0.2', dst: '10.0.0.3' }))).toBe(false);
    expect(test('src host 10.0.0.1', tcp(80, { src: '10.0.0.2', dst: '10.0.0.1' }))).toBe(false);
  });

  it('IPv6', () => {
    const v6 = tcp(24000, { v6: true, src: 'fe80::1', dst: '2001:db8::5' });
    expect(test('ip6', v6)).toBe(true);
    expect(test('ip', v6)).toBe(false);
    expect(test('ip6 and tcp port 24000', v6)).toBe(true);
    expect(test('tcp port 24000', v6)).toBe(true);
    expect(test('host 2001:db8::5', v6)).toBe(true);
    expect(test('host 2001:db8::6', v6)).toBe(false);
    expect(test('ip6', tcp(24000))).toBe(false);
    expect(test('(tcp or udp) and (portrange 24000-24010)', udp(24001, { v6: true }))).toBe(true);
  });

  it('judges a truncated packet on what was captured, like a live capture', () => {
    const p = frame(tcp(24000));
    const cut = p.subarray(0, p.length - 16); // the TCP header cut after the ports
    expect(compileOfflineFilter('tcp port 24000', linkType)(cut, p.length)).toBe(true);
    const noPorts = p.subarray(0, p.length - 20); // the IP header only
    expect(compileOfflineFilter('tcp port 24000', linkType)(noPorts, p.length)).toBe(false);
  });
});

describe('offline BPF', () => {
  it('a bad expression is a USAGE error quoting libpcap', () => {
    let err: unknown;
    try {
      compileOfflineFilter('tcp port', LINKTYPE.ETHERNET);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GamesniffError);
    expect((err as GamesniffError).code).toBe('USAGE');
    expect((err as GamesniffError).exitCode).toBe(2);
    expect((err as GamesniffError).message).toMatch(/^bad capture filter "tcp port": .*syntax error/);
    expect(() => compileOfflineFilter('portrange 5-', LINKTYPE.RAW)).toThrow(/bad capture filter "portrange 5-": /);
    expect(() => offlineFilter('nonsense here')(LINKTYPE.ETHERNET, Buffer.alloc(60), 60)).toThrow(GamesniffError);
  });

  it('an empty expression matches everything', () => {
    expect(compileOfflineFilter('', LINKTYPE.ETHERNET)(Buffer.alloc(0), 0)).toBe(true);
    expect(offlineFilter('  ')(12345, Buffer.alloc(1), 1)).toBe(true);
  });

  it('maps LINKTYPE_RAW to DLT_RAW, others as they are', () => {
    expect(dltForLinkType(LINKTYPE.RAW, 12)).toBe(12);
    expect(dltForLinkType(LINKTYPE.RAW_DLT, 12)).toBe(12);
    expect(dltForLinkType(LINKTYPE.RAW_DLT_OPENBSD, 12)).toBe(12);
    for (const t of [LINKTYPE.NULL, LINKTYPE.ETHERNET, LINKTYPE.PPP, LINKTYPE.LOOP, LINKTYPE.LINUX_SLL, LINKTYPE.IPV4, LINKTYPE.IPV6, LINKTYPE.LINUX_SLL2]) {
      expect(dltForLinkType(t, 12)).toBe(t);
    }
  });

  it('compiles for every link type the decoder supports', () => {
    for (const t of Object.values(LINKTYPE)) expect(() => compileOfflineFilter('tcp port 24000', t)).not.toThrow();
  });

  it('offlineFilter compiles once per link type and keeps them apart', () => {
    const f = offlineFilter('tcp port 24000');
    const ip = tcp(24000);
    const eth = ethernet(ip);
    // the raw IP packet read as Ethernet does not match, and vice versa
    expect(f(LINKTYPE.RAW, ip, ip.length)).toBe(true);
    expect(f(LINKTYPE.ETHERNET, eth, eth.length)).toBe(true);
    expect(f(LINKTYPE.ETHERNET, ip, ip.length)).toBe(false);
    expect(f(LINKTYPE.RAW, eth, eth.length)).toBe(false);
    expect(f(LINKTYPE.RAW, ip, ip.length)).toBe(true);
  });

  it('costs about a native call per packet', () => {
    const f = compileOfflineFilter('(tcp or udp) and (portrange 24000-24010)', LINKTYPE.ETHERNET);
    const pkts = [ethernet(tcp(24000)), ethernet(udp(9)), ethernet(tcp(24003, { v6: true }))];
    const n = 300_000;
    let hits = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const p = pkts[i % 3]!;
      if (f(p, p.length)) hits++;
    }
    const ns = Number(process.hrtime.bigint() - t0) / n;
    expect(hits).toBe(n - n / 3);
    // generous: the point is no per-packet compile or allocation (typically 50-150 ns)
    expect(ns).toBeLessThan(5_000);
  });
});
