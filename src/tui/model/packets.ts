/**
 * The last packets captured, kept raw (no decoding on the hot path) so that the details pane can
 * show the IP and TCP/UDP headers of the packets behind the selected message.
 */
import { describePacket, type PacketView } from '../../packet/describe';
import type { Message } from '../../session/messages';

interface Held {
  linkType: number;
  data: Buffer;
  ts: number;
}

export class PacketRing {
  private readonly ring: (Held | undefined)[];
  private next = 0;

  constructor(readonly size = 8192) {
    this.ring = new Array<Held | undefined>(size);
  }

  push(linkType: number, data: Buffer, ts: number): void {
    this.ring[this.next] = { linkType, data, ts };
    this.next = (this.next + 1) % this.size;
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
      const h = this.ring[(this.next - k + this.size) % this.size];
      if (!h) break;
      if (h.ts > m.ts) continue;
      const v = describePacket(h.linkType, h.data);
      const l4 = v.tcp ?? v.udp;
      if (!v.ip || !l4 || v.ip.src !== from.addr || v.ip.dst !== to.addr || l4.srcPort !== from.port || l4.dstPort !== to.port || v.payloadLength === 0) continue;
      out.unshift(v);
      payload += v.payloadLength;
      if (payload >= m.size) break;
    }
    return out;
  }
}
