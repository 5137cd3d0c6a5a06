import type { Direction, StreamEnd } from '../core/types';
import type { GapReason } from '../reassembly/assembler';
import type { FlowListener, TcpConnection, UdpFlow } from './connection';

/** Hands every flow event to each listener in turn; listeners can be added and removed between events (recording on and off). */
export class FlowTee implements FlowListener {
  constructor(readonly listeners: FlowListener[] = []) {}

  add(l: FlowListener): void {
    this.listeners.push(l);
  }

  remove(l: FlowListener): void {
    const i = this.listeners.indexOf(l);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  open(c: TcpConnection, ts: number): void {
    for (const l of this.listeners) l.open?.(c, ts);
  }
  data(c: TcpConnection, dir: Direction, chunk: Buffer, offset: number, ts: number): void {
    for (const l of this.listeners) l.data?.(c, dir, chunk, offset, ts);
  }
  gap(c: TcpConnection, dir: Direction, length: number, offset: number, ts: number, reason: GapReason): void {
    for (const l of this.listeners) l.gap?.(c, dir, length, offset, ts, reason);
  }
  end(c: TcpConnection, dir: Direction, reason: StreamEnd, ts: number): void {
    for (const l of this.listeners) l.end?.(c, dir, reason, ts);
  }
  close(c: TcpConnection, ts: number): void {
    for (const l of this.listeners) l.close?.(c, ts);
  }
  udpOpen(f: UdpFlow, ts: number): void {
    for (const l of this.listeners) l.udpOpen?.(f, ts);
  }
  datagram(f: UdpFlow, dir: Direction, payload: Buffer, declaredLen: number, ts: number): void {
    for (const l of this.listeners) l.datagram?.(f, dir, payload, declaredLen, ts);
  }
  udpClose(f: UdpFlow, ts: number): void {
    for (const l of this.listeners) l.udpClose?.(f, ts);
  }
}
