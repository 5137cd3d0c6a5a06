/**
 * The worker thread that runs fuzz cases: it loads the targets once and runs case after case,
 * so a case costs no start-up. The parent enforces the time and memory limits (it terminates this
 * thread and starts a new one on a hang or when the heap limit is hit).
 */
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { disposeContext, errorInfo, isExpected, newContext, runTarget, signatureOf, type TargetContext } from './targets';
import type { TargetName } from './seeds';

export interface CaseRequest {
  id: number;
  target: TargetName;
  data: Uint8Array;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | {
      type: 'result';
      id: number;
      status: 'ok' | 'expected' | 'crash';
      error?: { name: string; message: string; stack: string };
      signature?: string;
      counters: Record<string, number>;
    };

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('fuzz worker: not in a worker thread');
  // stacks in TypeScript terms (file:line in src), and deep enough to find our frames
  process.setSourceMapsEnabled?.(true);
  Error.stackTraceLimit = 60;
  let ctx: TargetContext;
  try {
    const wd = workerData as { root: string; tmp: string };
    // the runner owns the directory: a terminated worker cannot clean up after itself
    ctx = newContext(wd.root, join(wd.tmp, String(threadId)));
  } catch (e) {
    port.postMessage({ type: 'fatal', message: `cannot set up the fuzz targets: ${(e as Error).stack ?? String(e)}` } satisfies WorkerReply);
    return;
  }
  process.on('exit', () => disposeContext(ctx));
  port.on('message', (req: CaseRequest) => {
    void (async () => {
      ctx.counters = {};
      let reply: WorkerReply;
      try {
        await runTarget(req.target, ctx, Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength));
        reply = { type: 'result', id: req.id, status: 'ok', counters: ctx.counters };
      } catch (e) {
        if (isExpected(req.target, e)) {
          reply = { type: 'result', id: req.id, status: 'expected', counters: ctx.counters };
        } else {
          const error = errorInfo(e);
          reply = { type: 'result', id: req.id, status: 'crash', error, signature: signatureOf(error), counters: ctx.counters };
        }
      }
      port.postMessage(reply);
    })();
  });
  port.postMessage({ type: 'ready' } satisfies WorkerReply);
}

main();
