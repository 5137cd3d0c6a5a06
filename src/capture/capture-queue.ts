/**
 * The bound between the capture thread and the thread that reads its batches, in shared memory so
 * both see it without messages. The capture thread is the one producer: it admits a batch only
 * when the bytes already queued leave room for it, and otherwise drops the batch whole (its
 * packets are counted, never cut: a dropped packet is a hole the flow table reports, as a packet
 * the kernel dropped). The reading thread releases a batch's bytes once it has handled it.
 *
 * The same memory carries the kernel's counters, which only the capture thread can read, so that
 * the reading thread's stats() answers without waiting. Every slot is a u32 (Atomics on a
 * Uint32Array); libpcap's own counters are u32 too.
 */

const QUEUED = 0;
const PEAK = 1;
const DROPPED_PACKETS = 2;
const DROPPED_BATCHES = 3;
const RECEIVED = 4;
const KERNEL_DROPPED = 5;
const IF_DROPPED = 6;
const OVERSIZE = 7;
const SLOTS = 8;

/** Where the queue bound stands: what is queued now, the most it held, what it dropped. */
export interface QueueFigures {
  /** Bytes captured and not yet handled by the reader. */
  queuedBytes: number;
  /** The most bytes queued at once. */
  peakBytes: number;
  /** The bound (bytes). */
  limitBytes: number;
  /** Whole packets dropped because the reader was more than the bound behind. */
  droppedPackets: number;
  droppedBatches: number;
  /** Captured packets never handed on: the capture was stopped a second time while they waited. */
  unread?: number;
}

export interface KernelFigures {
  received: number;
  dropped: number;
  ifDropped: number;
  oversize: number;
}

/** The default bound: a burst of a few seconds at loopback flood rates, in memory rather than lost. */
export const DEFAULT_QUEUE_LIMIT = 256 * 1024 * 1024;

export class CaptureQueue {
  private readonly slots: Uint32Array;

  /** `shared`: the memory of a queue made in another thread (its `shared`); none makes a new one. */
  constructor(
    readonly limitBytes = DEFAULT_QUEUE_LIMIT,
    readonly shared = new SharedArrayBuffer(SLOTS * 4),
  ) {
    if (!(limitBytes > 0 && limitBytes < 2 ** 32)) throw new RangeError(`queue limit must be between 1 byte and 4 GiB, got ${limitBytes}`);
    this.slots = new Uint32Array(shared);
  }

  /** Capture side: queue a batch of `bytes` holding `packets`, or count it dropped (false). */
  admit(bytes: number, packets: number): boolean {
    const queued = Atomics.load(this.slots, QUEUED);
    if (queued + bytes > this.limitBytes) {
      Atomics.add(this.slots, DROPPED_PACKETS, packets);
      Atomics.add(this.slots, DROPPED_BATCHES, 1);
      return false;
    }
    // the reader only ever subtracts: what is queued after this add is at most queued + bytes
    const now = Atomics.add(this.slots, QUEUED, bytes) + bytes;
    if (now > Atomics.load(this.slots, PEAK)) Atomics.store(this.slots, PEAK, now);
    return true;
  }

  /** Reading side: a batch of `bytes` was handled. */
  release(bytes: number): void {
    Atomics.sub(this.slots, QUEUED, bytes);
  }

  figures(): QueueFigures {
    const s = this.slots;
    return {
      queuedBytes: Atomics.load(s, QUEUED),
      peakBytes: Atomics.load(s, PEAK),
      limitBytes: this.limitBytes,
      droppedPackets: Atomics.load(s, DROPPED_PACKETS),
      droppedBatches: Atomics.load(s, DROPPED_BATCHES),
    };
  }

  /** Capture side: the kernel's counters as last read. */
  setKernel(k: KernelFigures): void {
    const s = this.slots;
    Atomics.store(s, RECEIVED, k.received);
    Atomics.store(s, KERNEL_DROPPED, k.dropped);
    Atomics.store(s, IF_DROPPED, k.ifDropped);
    Atomics.store(s, OVERSIZE, k.oversize);
  }

  kernel(): KernelFigures {
    const s = this.slots;
    return { received: Atomics.load(s, RECEIVED), dropped: Atomics.load(s, KERNEL_DROPPED), ifDropped: Atomics.load(s, IF_DROPPED), oversize: Atomics.load(s, OVERSIZE) };
  }
}
