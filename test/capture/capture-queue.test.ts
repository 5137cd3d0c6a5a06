import { describe, expect, it } from 'vitest';
import { CaptureQueue } from '../../src/capture/capture-queue';

describe('the capture queue between the capture thread and its reader', () => {
  it('admits batches while they fit, drops a batch that does not whole and counts its packets', () => {
    const q = new CaptureQueue(1000);
    expect(q.admit(600, 6)).toBe(true);
    expect(q.admit(400, 4)).toBe(true); // exactly the bound
    expect(q.admit(1, 1)).toBe(false);
    expect(q.admit(300, 3)).toBe(false);
    expect(q.figures()).toEqual({ queuedBytes: 1000, peakBytes: 1000, limitBytes: 1000, droppedPackets: 4, droppedBatches: 2 });
  });

  it('bytes released by the reader make room again; the peak stays', () => {
    const q = new CaptureQueue(1000);
    q.admit(700, 1);
    q.release(700);
    expect(q.admit(900, 2)).toBe(true);
    q.release(900);
    expect(q.figures()).toMatchObject({ queuedBytes: 0, peakBytes: 900, droppedPackets: 0 });
  });

  it('two queues on the same memory (one per thread) see each other: what one admits the other releases', () => {
    const capture = new CaptureQueue(1000);
    const reader = new CaptureQueue(1000, capture.shared);
    capture.admit(800, 8);
    expect(reader.figures().queuedBytes).toBe(800);
    expect(capture.admit(300, 3)).toBe(false);
    reader.release(800);
    expect(capture.admit(300, 3)).toBe(true);
    capture.setKernel({ received: 4_000_000_000, dropped: 2, ifDropped: 0, oversize: 1 });
    expect(reader.kernel()).toEqual({ received: 4_000_000_000, dropped: 2, ifDropped: 0, oversize: 1 });
    expect(reader.figures()).toMatchObject({ queuedBytes: 300, peakBytes: 800, droppedPackets: 3, droppedBatches: 1 });
  });

  it('refuses a bound it cannot count (u32 slots)', () => {
    expect(() => new CaptureQueue(0)).toThrow(RangeError);
    expect(() => new CaptureQueue(2 ** 32)).toThrow(RangeError);
  });
});
