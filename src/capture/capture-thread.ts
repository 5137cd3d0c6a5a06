import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Ready } from '../core/byte-source';
import { GamesniffError } from '../core/errors';
import type { PacketAtCallback } from '../core/types';
import { CaptureQueue, DEFAULT_QUEUE_LIMIT } from './capture-queue';
import type { CaptureWorkerData, CaptureWorkerMessage } from './capture-worker';
import { forEachRecord, type CaptureHandle, type CaptureStats, type LiveCaptureOptions } from './live';

/**
 * Live capture on a thread of its own: the device is drained by capture-worker.ts whatever this
 * thread is doing (decoding, formatting, writing output), and its batches wait in a queue bounded
 * in bytes until this thread takes them. A burst costs memory and latency, not packets; past the
 * bound whole batches are dropped and counted (stats().queue), never cut.
 *
 * Batches are handed on one per turn of the event loop, so that this thread's output is written,
 * its timers fire and its signals are handled while a backlog lasts (a port's messages would
 * otherwise all be delivered in one go, and written output pile up in memory).
 *
 * Call order: start() once (resolves when the device is open), then stop() (the capture thread
 * closes the device; every batch it captured before still reaches onPacket) or discard() (stop
 * handing packets on now: a packet limit reached, an error).
 */
export interface CaptureThreadOptions extends LiveCaptureOptions {
  /** Bytes of captured batches that may wait for this thread (default 256 MiB). */
  queueLimitBytes?: number;
  /**
   * Asked before each batch is handed on: a promise holds the batches back until it settles (the
   * output is congested, say). Batches wait in the bounded queue meanwhile, never in the output.
   */
  holdWhile?: Ready;
  /** Called after each batch was handed on: output buffered meanwhile can be written (live output waits at most a batch). */
  afterBatch?: () => void;
}

// src/capture under the tests, dist/capture when built: the worker is always the built one
const ROOT = resolve(__dirname, '../..');
function workerScript(): string {
  const here = join(__dirname, 'capture-worker.js');
  return existsSync(here) ? here : join(ROOT, 'dist/capture/capture-worker.js');
}

export class CaptureThread implements CaptureHandle {
  readonly device: string;
  readonly filter: string;
  linkType = -1;
  readonly queue: CaptureQueue;
  private worker: Worker | null = null;
  private discarding = false;
  /** Captured packets left unread because the capture was stopped twice (stats().queue.unread). */
  private unread = 0;
  private tallyUnread = false;
  private ended: Promise<void> = Promise.resolve();
  private readonly pending: Array<{ records: ArrayBuffer; count: number }> = [];
  private scheduled = false;
  private workerDone = false;
  private endedNow: () => void = () => undefined;
  private handle: (records: ArrayBuffer, count: number) => void = () => undefined;

  constructor(private readonly opts: CaptureThreadOptions) {
    this.device = opts.device;
    this.filter = opts.filter;
    this.queue = new CaptureQueue(opts.queueLimitBytes ?? DEFAULT_QUEUE_LIMIT);
  }

  /**
   * Opens the device on the capture thread. Rejects with the open's GamesniffError (CAPTURE,
   * PRIVILEGE or USAGE), nothing left running. Once open, an exception thrown by `onPacket` or a
   * capture failure (the device went away) discards what is queued and goes to `onError`.
   */
  start(onPacket: PacketAtCallback, onError: (e: unknown) => void): Promise<void> {
    if (this.worker) return Promise.reject(new GamesniffError('CAPTURE', `already capturing on ${this.device}`));
    const data: CaptureWorkerData = {
      device: this.device,
      filter: this.filter,
      bufferSize: this.opts.bufferSize,
      timeoutMs: this.opts.timeoutMs,
      limitBytes: this.queue.limitBytes,
      shared: this.queue.shared,
    };
    const w = new Worker(workerScript(), { workerData: data });
    this.worker = w;
    this.ended = new Promise<void>((r) => (this.endedNow = r));
    const open = (): boolean => !this.discarding;
    return new Promise<void>((ready, refused) => {
      let isOpen = false;
      const fail = (e: unknown): void => {
        if (!isOpen) return refused(e);
        if (this.discarding) return;
        this.discard();
        onError(e);
      };
      this.handle = (records, count) => {
        try {
          if (!this.discarding) forEachRecord(Buffer.from(records), count, this.linkType, onPacket, open);
        } catch (e) {
          fail(e);
        } finally {
          this.queue.release(records.byteLength);
        }
      };
      w.on('message', (m: CaptureWorkerMessage) => {
        switch (m.kind) {
          case 'batch':
            if (this.discarding) this.drop(m);
            else this.pending.push(m);
            this.schedule();
            return;
          case 'ready':
            this.linkType = m.linkType;
            isOpen = true;
            ready();
            return;
          case 'error':
            refused(new GamesniffError(m.code, m.message));
            return;
          case 'failed':
            fail(new GamesniffError('CAPTURE', m.message));
            return;
          case 'stopped':
            this.workerDone = true;
            this.schedule();
            return;
        }
      });
      w.on('error', (e) => fail(new GamesniffError('CAPTURE', `the capture thread failed: ${e.message}`)));
      w.on('exit', () => {
        this.worker = null;
        if (!isOpen) refused(new GamesniffError('CAPTURE', 'the capture thread ended before the device opened'));
        this.workerDone = true;
        this.schedule();
      });
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.next());
  }

  /** Hands one batch on (unless held back), then lets the event loop turn. */
  private next(): void {
    this.scheduled = false;
    if (this.pending.length && !this.discarding) {
      const hold = this.opts.holdWhile?.();
      if (hold) {
        void hold.then(() => this.schedule(), () => this.schedule());
        return;
      }
      const b = this.pending.shift()!;
      this.handle(b.records, b.count);
      this.opts.afterBatch?.();
    }
    if (this.discarding) for (const b of this.pending.splice(0)) this.drop(b);
    if (this.pending.length) this.schedule();
    else if (this.workerDone) this.endedNow();
  }

  /** Close the device; resolves once every batch captured before has been handed on. */
  stop(): Promise<void> {
    this.worker?.postMessage('stop');
    return this.ended;
  }

  private drop(b: { records: ArrayBuffer; count: number }): void {
    if (this.tallyUnread) this.unread += b.count;
    this.queue.release(b.records.byteLength);
  }

  /**
   * Hand no more packets on: what is still queued is released unread, and counted as unread
   * when `tally` (the user would not wait for it; a packet limit reached is no loss). Then stop().
   */
  discard(tally = false): void {
    this.tallyUnread ||= tally;
    this.discarding = true;
    this.worker?.postMessage('stop');
    this.schedule();
  }

  /** The kernel's counters as the capture thread last read them, and the queue's. */
  stats(): CaptureStats {
    return { ...this.queue.kernel(), queue: { ...this.queue.figures(), unread: this.unread } };
  }
}
