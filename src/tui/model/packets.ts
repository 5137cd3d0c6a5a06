/**
 * The last packets captured, kept raw (no decoding on the hot path) so that the details pane can
 * show the IP and TCP/UDP headers of the packets behind the selected message. Their bytes are
 * copied into one arena of fixed size: the ring allocates nothing per packet, and holds no view
 * of the capture's buffers (a view would keep a whole batch of the capture alive).
 */
import { describePacket, type PacketView } from '../../packet/describe';
import type { Message } from '../../session/messages';

export class PacketRing {
  private readonly arena: Buffer;
  /** Per slot: where its bytes start, counted over everything written (a slot is gone once the arena wrapped past it). */
  private readonly start: Float64Array;
  private readonly length: Uint32Array;
  private readonly ts: Float64Array;
  private readonly linkType: Uint16Array;
  private next = 0;
  private count = 0;
  private written = 0;

  constructor(
    readonly size = 8192,
    arenaBytes = 8 << 20,
  ) {
    this.arena = Buffer.alloc(arenaBytes);
    this.start = new Float64Array(size);
    this.length = new Uint32Array(size);
    this.ts = new Float64Array(size);
    this.linkType = new Uint16Array(size);
  }

  push(linkType: number, data: Buffer, ts: number): void {
    const a = this.arena.length;
    const n = Math.min(data.length, a);
    if ((this.written % a) + n > a) this.written += a - (this.written % a);
    data.copy(this.arena, this.written % a, 0, n);
    const s = this.next;
    this.start[s] = this.written;
    this.length[s] = n;
    this.ts[s] = ts;
    this.linkType[s] = linkType;
    this.written += n;
    this.next = (s + 1) % this.size;
    if (this.count < this.size) this.count++;
  }

  /** The k-th newest packet's slot (k from 1), or -1 when it is gone. */
  private slot(k: number): number {
    if (k > this.count) return -1;
    const s = (this.next - k + this.size) % this.size;
    return this.start[s]! >= this.written - this.arena.length ? s : -1;
  }

  private bytes(s: number): Buffer {
    const at = this.start[s]! % this.arena.length;
    return this.arena.subarray(at, at + this.length[s]!);
  }

  /**
   * The packets that carried a message: the one that completed it (same time, same flow and
   * direction) and the earlier ones of that flow and direction whose payload makes up its size.
   */
  behind(m: Message, max = 6): PacketView[] {
    const from = m.dir === 'c2s' ? m.flow.client : m.flow.server;
    const to = m.dir === 'c2s' ? m.flow.server : m.flow.client;
    const out: PacketView[] = [];
    let payload = 0;
    for (let k = 1; k <= this.size && out.length < max; k++) {
      const s = this.slot(k);
      if (s < 0) break;
      if (this.ts[s]! > m.ts) continue;
      const v = describePacket(this.linkType[s]!, this.bytes(s));
      const l4 = v.tcp ?? v.udp;
      if (!v.ip || !l4 || v.ip.src !== from.addr || v.ip.dst !== to.addr || l4.srcPort !== from.port || l4.dstPort !== to.port || v.payloadLength === 0) continue;
      // described again from a copy: the arena's bytes are written over by later packets
      out.unshift(describePacket(this.linkType[s]!, Buffer.from(this.bytes(s))));
      payload += v.payloadLength;
      if (payload >= m.size) break;
    }
    return out;
  }
}
