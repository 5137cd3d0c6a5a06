/**
 * The capture thread (see capture-thread.ts): opens the device, and hands every batch cap writes
 * to the thread that started it, copied once into memory of its own that is transferred, not
 * copied again. It does nothing else, so the kernel's ring is drained however slow the reader is;
 * the reader's lag is bounded by the CaptureQueue (a batch that does not fit is dropped whole and
 * counted).
 *
 * Messages out, in this order: `ready` (with the link type) or `error` (the open failed: nothing
 * is left open, the thread ends); then `batch`es; then `stopped` once, after the last batch (when
 * the reader said `stop`, or the capture failed: `failed` comes before it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GamesniffError } from '../core/errors';
import { CaptureQueue } from './capture-queue';
import { LiveCapture } from './live';

export interface CaptureWorkerData {
  device: string;
  filter: string;
  bufferSize?: number;
  timeoutMs?: number;
  limitBytes: number;
  shared: SharedArrayBuffer;
}

export type CaptureWorkerMessage =
  | { kind: 'ready'; linkType: number }
  | { kind: 'error'; code: GamesniffError['code']; message: string }
  | { kind: 'batch'; records: ArrayBuffer; count: number }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' };

/** How often the kernel's counters are read into the shared memory for the reader's stats(). */
const STATS_MS = 250;

function run(port: NonNullable<typeof parentPort>, data: CaptureWorkerData): void {
  const queue = new CaptureQueue(data.limitBytes, data.shared);
  const capture = new LiveCapture({ device: data.device, filter: data.filter, bufferSize: data.bufferSize, timeoutMs: data.timeoutMs });
  const post = (m: CaptureWorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    if (timer) clearInterval(timer);
    capture.stop(); // reads the counters a last time
    queue.setKernel(capture.stats());
    post({ kind: 'stopped' });
    port.close();
  };
  try {
    capture.startBatches(
      (records, count) => {
        if (!queue.admit(records.length, count)) return;
        // memory of its own, not zeroed first (it is all written over), handed over without a copy
        const own = Buffer.allocUnsafeSlow(records.length);
        records.copy(own);
        post({ kind: 'batch', records: own.buffer, count }, [own.buffer]);
      },
      (e) => {
        post({ kind: 'failed', message: e.message });
        end();
      },
    );
  } catch (e) {
    const err = e instanceof GamesniffError ? e : new GamesniffError('CAPTURE', (e as Error).message);
    post({ kind: 'error', code: err.code, message: err.message });
    port.close();
    return;
  }
  timer = setInterval(() => queue.setKernel(capture.stats()), STATS_MS);
  post({ kind: 'ready', linkType: capture.linkType });
  port.on('message', (m: 'stop') => {
    if (m === 'stop') end();
  });
}

if (parentPort) run(parentPort, workerData as CaptureWorkerData);
