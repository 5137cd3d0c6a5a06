import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parsePorts } from '../../src/capture/ports';
import { liveSource, type SourceSummary } from '../../src/capture/source';
import { PacketDecoder } from '../../src/packet/packet';

/**
 * Live capture with a consumer made slow on purpose (a busy wait per packet): the device is read
 * on its own thread, so a burst waits in the queue instead of the kernel dropping it; past the
 * queue's bound whole packets are dropped and counted, never cut.
 */
const isRoot = process.getuid?.() === 0;
const SIZE = 1000;

/** Sends `count` UDP datagrams of SIZE bytes (a u32 sequence number first) to 127.0.0.1:port from another process, 10 a millisecond. */
function burst(port: number, count: number): Promise<void> {
  const script = `
    const d = require('node:dgram');
    const rx = d.createSocket('udp4'); rx.on('message', () => {});
    rx.bind(${port}, '127.0.0.1', () => {
      const tx = d.createSocket('udp4');
      let i = 0;
      const t0 = Date.now();
      const go = () => {
        const due = Math.min(${count}, (Date.now() - t0 + 1) * 10);
        for (; i < due; i++) { const b = Buffer.alloc(${SIZE}, 0x47); b.writeUInt32BE(i, 0); tx.send(b, ${port}, '127.0.0.1'); }
        if (i < ${count}) setTimeout(go, 1); else setTimeout(() => { tx.close(); rx.close(); }, 300);
      };
      go();
    });`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}`))));
  });
}

// the consumer is stalled (blocked, not spinning: the test measures waiting, not CPU contention)
const stall = new Int32Array(new SharedArrayBuffer(4));
const spin = (ms: number): void => void Atomics.wait(stall, 0, 0, ms);

/** Captures a burst of `count` datagrams on `port` with a consumer slow for the first `slowFor` packets; the sequence numbers delivered, each checked whole. */
async function captureSlowly(port: number, count: number, opts: { queueLimitBytes?: number; slowMs: number; slowFor: number }): Promise<{ seqs: number[]; whole: boolean; summary: SourceSummary }> {
  const seqs: number[] = [];
  let whole = true;
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const decoder = new PacketDecoder();
  // a small kernel ring (8 MiB, 0.7 s of the burst): without the capture thread a consumer stalled
  // this long makes the kernel drop (tried: 3,511 of 20,000 delivered on a 4 MiB ring)
  const source = liveSource({ ports: parsePorts([String(port)]), bufferSize: 8 * 1024 * 1024, queueLimitBytes: opts.queueLimitBytes, onReady: () => ready(), durationSec: 30 });
  const running = source.run((lt, buf, start, end) => {
    const p = decoder.pkt;
    if (decoder.decode(lt, buf, start, end) === 'udp') {
      whole &&= p.payloadLen === SIZE && p.capPayloadLen === SIZE;
      seqs.push(buf.readUInt32BE(p.payloadOff));
    }
    if (seqs.length <= opts.slowFor) spin(opts.slowMs);
  });
  await isReady;
  await burst(port, count);
  source.stop(); // what was captured before is still handed on
  const summary = await running;
  return { seqs, whole, summary };
}

describe.skipIf(!isRoot)('live capture with a slow consumer', () => {
  it('a burst the consumer cannot keep up with waits in the queue: every packet arrives, in order, none dropped', async () => {
    const count = 20_000;
    // 20 MB in 2 s against an 8 MiB kernel ring, the consumer stalled 1 ms a packet for the first 2500
    const { seqs, whole, summary } = await captureSlowly(25391, count, { slowMs: 1, slowFor: 2500 });
    const live = summary.live!;
    expect(live.dropped).toBe(0);
    expect(live.queue!.droppedPackets).toBe(0);
    expect(live.queue!.peakBytes).toBeGreaterThan(8 * 1024 * 1024); // the queue held more than the kernel ring could
    expect(whole).toBe(true);
    expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i));
  }, 60_000);

  it('past the queue bound whole packets are dropped and counted: what arrives is whole, in order, and arrived + dropped = sent', async () => {
    const count = 20_000;
    const { seqs, whole, summary } = await captureSlowly(25392, count, { queueLimitBytes: 2 * 1024 * 1024, slowMs: 1, slowFor: 2500 });
    const live = summary.live!;
    expect(live.dropped).toBe(0);
    expect(live.queue!.droppedPackets).toBeGreaterThan(0);
    expect(live.queue!.peakBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(whole).toBe(true);
    expect(seqs.length + live.queue!.droppedPackets).toBe(count);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
  }, 60_000);

  it('holdWhile holds packets back in the queue (congested output) until it settles; afterBatch follows every batch handed on', async () => {
    const port = 25393;
    const count = 2000;
    let congested = true;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let asked = 0;
    let delivered = 0;
    let batches = 0;
    let deliveredAtLastBatch = -1;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const source = liveSource({
      ports: parsePorts([String(port)]),
      onReady: () => ready(),
      durationSec: 30,
      holdWhile: () => (asked++, congested ? released : null),
      afterBatch: () => {
        batches++;
        deliveredAtLastBatch = delivered;
      },
    });
    const running = source.run(() => void delivered++);
    await isReady;
    await burst(port, count);
    expect(asked).toBeGreaterThan(0);
    expect(delivered).toBe(0); // nothing handed on while the output is congested
    congested = false;
    release();
    source.stop();
    const summary = await running;
    expect(delivered).toBe(count);
    expect(summary.live!.queue!.peakBytes).toBeGreaterThan(count * SIZE); // the whole burst waited in the queue
    expect(batches).toBeGreaterThan(0);
    expect(deliveredAtLastBatch).toBe(count);
  }, 60_000);

  it('stopped twice (a second Ctrl-C), what still waits in the queue is left unread and counted', async () => {
    const port = 25394;
    const count = 1000;
    let delivered = 0;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    // the output never drains: everything waits in the queue
    const source = liveSource({ ports: parsePorts([String(port)]), onReady: () => ready(), durationSec: 30, holdWhile: () => new Promise(() => undefined) });
    const running = source.run(() => void delivered++);
    await isReady;
    await burst(port, count);
    source.stop(); // the first waits for the queue to drain, which it never would
    source.stop();
    const summary = await running;
    expect(delivered).toBe(0);
    expect(summary.live!.queue!.unread).toBe(count);
    expect(summary.live!.queue!.queuedBytes).toBe(0);
  }, 60_000);
});

