/**
 * Runs cases in a worker thread with a heap limit (resourceLimits) and a per-case timeout that
 * this side enforces: on a hang, a heap overflow or a process memory (rss) overflow the worker is
 * terminated and a new one started for the next case. The worker stays alive across cases.
 *
 * A hang has no exception, hence no stack: before terminating a hung worker, the runner pauses it
 * through the inspector (this thread's session attaches to every worker it starts) and takes the
 * JavaScript stack it was stuck in. A heap overflow is rerun and paused shortly before the point
 * where it overflowed. Those stacks give resource crashes a location, like exceptions have.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { SourceMap } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TargetName } from './seeds';
import { resourceWhere, signatureOf } from './targets';
import type { CaseRequest, WorkerReply } from './worker';

export interface RunnerOptions {
  /** Repository root (protocols/testgame is loaded from it). */
  root: string;
  /** A case taking longer is a crash (hang). */
  timeoutMs?: number;
  /** The worker's V8 old-generation limit. */
  maxHeapMb?: number;
  /**
   * Process memory (rss) above the level at start by more than this is a crash too: buffers live
   * outside the V8 heap. Default 1.5 x maxHeapMb.
   */
  maxRssGrowthMb?: number;
  /** Locate hangs and heap overflows by pausing the worker (default true). */
  locate?: boolean;
}

export type CrashKind = 'exception' | 'timeout' | 'heap' | 'rss' | 'exit';
export const RESOURCE_KINDS: ReadonlySet<string> = new Set(['timeout', 'heap', 'rss']);

export interface Outcome {
  status: 'ok' | 'expected' | 'crash';
  kind?: CrashKind;
  signature?: string;
  error?: { name: string; message: string; stack: string };
  ms: number;
  counters: Record<string, number>;
}

interface Pending {
  id: number;
  target: TargetName;
  start: number;
  resolve: (o: Outcome) => void;
  timer: NodeJS.Timeout;
  poll: NodeJS.Timeout;
  /** The deadline passed: a late reply no longer counts. */
  expired: boolean;
  /** Pause the worker at this many ms (for locating a heap overflow), then report it as `pauseKind`. */
  pauseAt?: number;
  pauseKind?: CrashKind;
  pauseTimer?: NodeJS.Timeout;
}

/** dist/fuzz/worker.js, whether this module runs from dist (node) or from src (vitest). */
export function workerScript(root: string): string {
  const here = join(__dirname, 'worker.js');
  if (existsSync(here)) return here;
  const built = join(root, 'dist', 'fuzz', 'worker.js');
  if (existsSync(built)) return built;
  throw new Error(`the fuzz worker is not built (${built}): run npm run build first`);
}

export function repoRoot(): string {
  // src/fuzz or dist/fuzz -> the repository
  return resolve(__dirname, '..', '..');
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

const maps = new Map<string, SourceMap | null>();

/** A paused frame as a stack line, through the compiled file's source map (src/...ts:line). */
function frameLine(f: CallFrame, urls: Map<string, string>): string {
  const url = f.url || urls.get(f.location.scriptId) || '';
  const name = f.functionName || '<anonymous>';
  let line = f.location.lineNumber;
  let col = f.location.columnNumber;
  if (!url) return `    at ${name} (<anonymous>:${line + 1}:${col + 1})`;
  let file = url.startsWith('file:') ? fileURLToPath(url) : url;
  if (file.endsWith('.js')) {
    let map = maps.get(file);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
      } catch {
        map = null;
      }
      maps.set(file, map);
    }
    const e = map?.findEntry(line, col) as { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
    if (e?.originalSource) {
      file = e.originalSource.startsWith('file:') ? fileURLToPath(e.originalSource) : resolve(dirname(file), e.originalSource);
      line = e.originalLine!;
      col = e.originalColumn!;
    }
  }
  return `    at ${name} (${file}:${line + 1}:${col + 1})`;
}

export class Runner {
  readonly timeoutMs: number;
  readonly maxHeapMb: number;
  private readonly rssLimit: number;
  private readonly locate: boolean;
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private dying: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;
  private nextId = 1;
  private session: Session | null = null;
  /** Inspector session ids by worker thread id. */
  private readonly sessions = new Map<number, string>();
  /** Inspector session id of the worker being paused. */
  private workerSession: string | null = null;
  private inspectorListener: ((msg: Record<string, unknown>) => void) | null = null;
  /** Workers started (the first one, and one after each hang or memory crash). */
  spawns = 0;
  /** Temporary files of the workers (one directory each), removed by close(). */
  private readonly tmp = mkdtempSync(join(tmpdir(), 'gamesniff-fuzz-'));

  constructor(readonly opts: RunnerOptions) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxHeapMb = opts.maxHeapMb ?? 512;
    this.rssLimit = process.memoryUsage.rss() + (opts.maxRssGrowthMb ?? this.maxHeapMb * 1.5) * 1024 * 1024;
    this.locate = opts.locate ?? true;
  }

  private async inspector(): Promise<void> {
    if (!this.locate || this.session) return;
    const s = new Session();
    try {
      s.connect();
    } catch {
      return; // another session already owns this thread's inspector: no locating
    }
    this.session = s;
    // every session sees every worker of this thread (other runners' too): match ours by thread id
    s.on('NodeWorker.attachedToWorker', (m: { params: { sessionId: string; workerInfo: { title: string } } }) => {
      const id = /\[worker (\d+)\]/.exec(m.params.workerInfo.title)?.[1];
      if (id !== undefined) this.sessions.set(Number(id), m.params.sessionId);
    });
    s.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
      for (const [k, v] of this.sessions) if (v === m.params.sessionId) this.sessions.delete(k);
    });
    s.on('NodeWorker.receivedMessageFromWorker', (m: { params: { sessionId: string; message: string } }) => {
      if (m.params.sessionId === this.workerSession) this.inspectorListener?.(JSON.parse(m.params.message) as Record<string, unknown>);
    });
    await new Promise<void>((res) => s.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, () => res()));
  }

  /**
   * Pause the running worker a few times and return the part of its JavaScript stack common to
   * every sample (null when pausing does not work in time). A loop that calls helpers is paused
   * in one or another of them; the frames every sample shares end in the loop's own function.
   */
  private async pauseStack(samples = 3, gapMs = 60, waitMs = 1500): Promise<string | null> {
    const s = this.session;
    const sid = this.worker ? this.sessions.get(this.worker.threadId) : undefined;
    if (!s || !sid) return null;
    this.workerSession = sid;
    const urls = new Map<string, string>();
    let msgId = 1;
    const send = (method: string) => s.post('NodeWorker.sendMessageToWorker', { sessionId: sid, message: JSON.stringify({ id: msgId++, method }) });
    const stacks: string[][] = [];
    await new Promise<void>((res) => {
      let timer = setTimeout(res, waitMs);
      this.inspectorListener = (msg) => {
        if (msg.method === 'Debugger.scriptParsed') {
          const p = msg.params as { scriptId: string; url: string };
          urls.set(p.scriptId, p.url);
        } else if (msg.method === 'Debugger.paused') {
          stacks.push((msg.params as { callFrames: CallFrame[] }).callFrames.map((f) => frameLine(f, urls)));
          clearTimeout(timer);
          if (stacks.length >= samples) return res();
          timer = setTimeout(res, waitMs);
          send('Debugger.resume');
          setTimeout(() => send('Debugger.pause'), gapMs);
        } else if (msg.id === 1) send('Debugger.pause');
      };
      send('Debugger.enable');
    });
    this.inspectorListener = null;
    // a paused thread does not terminate: let it run again first
    send('Debugger.disable');
    if (!stacks.length) return null;
    // the common suffix, compared by function and file (the line moves within a loop)
    const key = (l: string) => l.replace(/:\d+:\d+\)$/, ')');
    const first = stacks[0]!;
    let common = first.length;
    for (const st of stacks.slice(1)) {
      let n = 0;
      while (n < first.length && n < st.length && key(first[first.length - 1 - n]!) === key(st[st.length - 1 - n]!)) n++;
      common = Math.min(common, n);
    }
    return ['paused', ...first.slice(first.length - common)].join('\n');
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    this.ready = (async () => {
      // a worker that does not die within 3 s is left behind (it is unreferenced), not waited for
      await Promise.race([this.dying, new Promise((r) => setTimeout(r, 3000).unref())]);
      await this.inspector();
      const w = new Worker(workerScript(this.opts.root), {
        workerData: { root: this.opts.root, tmp: this.tmp },
        // stacks in TypeScript terms: source maps must be on before the modules load
        execArgv: ['--enable-source-maps'],
        resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
        stdout: true,
        stderr: true,
      });
      this.spawns++;
      // whatever the code under test prints is not the fuzzer's output
      w.stdout.resume();
      w.stderr.resume();
      this.worker = w;
      await new Promise<void>((res, rej) => {
        const onMessage = (m: WorkerReply) => {
          if (m.type === 'ready') {
            w.off('message', onMessage);
            res();
          } else if (m.type === 'fatal') rej(new Error(m.message));
        };
        w.on('message', onMessage);
        w.once('error', rej);
        w.once('exit', (code) => rej(new Error(`the fuzz worker exited (${code}) while starting`)));
      });
      w.removeAllListeners('error');
      w.removeAllListeners('exit');
      w.on('message', (m: WorkerReply) => this.onReply(m));
      w.on('error', (e: Error & { code?: string }) => {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          this.finishCrash('heap', 'OutOfMemory: heap past the limit', { name: 'OutOfMemory', message: `the worker's heap passed ${this.maxHeapMb} MB`, stack: '' });
        } else {
          // an exception that escaped the case (an async error event)
          this.finishCrash('exception', null, { name: e.constructor?.name ?? 'Error', message: e.message, stack: e.stack ?? '' });
        }
        this.discard();
      });
      w.on('exit', (code) => {
        if (this.worker === w) {
          this.finishCrash('exit', 'WorkerExit: the worker exited', { name: 'WorkerExit', message: `exit code ${code}`, stack: '' });
          this.discard();
        }
      });
    })();
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  private onReply(m: WorkerReply): void {
    if (m.type !== 'result') return;
    const p = this.pending;
    if (!p || p.id !== m.id || p.expired) return;
    this.clear(p);
    p.resolve({ status: m.status, kind: m.status === 'crash' ? 'exception' : undefined, signature: m.signature, error: m.error, ms: Date.now() - p.start, counters: m.counters });
  }

  private clear(p: Pending): void {
    clearTimeout(p.timer);
    clearInterval(p.poll);
    if (p.pauseTimer) clearTimeout(p.pauseTimer);
    this.pending = null;
  }

  /** `head` is the signature without location (resource crashes); null: from the error's stack. */
  private finishCrash(kind: CrashKind, head: string | null, error: NonNullable<Outcome['error']>): void {
    const p = this.pending;
    if (!p) return;
    this.clear(p);
    let sig: string;
    if (head === null) sig = `${signatureOf(error)} (uncaught)`;
    else if (error.stack) sig = `${head} @ ${resourceWhere(error.stack)} [${p.target}]`;
    else sig = `${head} [${p.target}]`;
    p.resolve({ status: 'crash', kind, signature: sig, error, ms: Date.now() - p.start, counters: {} });
  }

  /** Forget the current worker (it hung, ran out of memory or died) and terminate it. */
  private discard(): void {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    this.workerSession = null;
    if (w) {
      w.removeAllListeners('exit');
      w.removeAllListeners('message');
      w.removeAllListeners('error');
      w.on('error', () => undefined);
      w.unref();
      this.dying = w.terminate().catch(() => undefined);
    }
  }

  private async expire(p: Pending, kind: CrashKind, head: string, message: string): Promise<void> {
    if (p.expired || this.pending !== p) return;
    p.expired = true;
    clearInterval(p.poll);
    const stack = this.locate ? await this.pauseStack() : null;
    this.finishCrash(kind, head, { name: head.split(':')[0]!, message, stack: stack ? `${head}\n${stack.split('\n').slice(1).join('\n')}` : '' });
    this.discard();
  }

  run(target: TargetName, data: Buffer): Promise<Outcome> {
    return this.runCase(target, data);
  }

  private async runCase(target: TargetName, data: Buffer, pauseAt?: number, pauseKind?: CrashKind): Promise<Outcome> {
    await this.start();
    const w = this.worker!;
    const id = this.nextId++;
    const out = await new Promise<Outcome>((resolveOutcome) => {
      const start = Date.now();
      const timer = setTimeout(() => void this.expire(p, 'timeout', 'Timeout: a case took too long', `more than ${this.timeoutMs} ms`), this.timeoutMs);
      const poll = setInterval(() => {
        const rss = process.memoryUsage.rss();
        if (rss > this.rssLimit) void this.expire(p, 'rss', 'OutOfMemory: process memory past the limit', `rss ${Math.round(rss / 1048576)} MB`);
      }, 50);
      const p: Pending = { id, target, start, resolve: resolveOutcome, timer, poll, expired: false };
      if (pauseAt !== undefined) {
        p.pauseTimer = setTimeout(() => void this.expire(p, pauseKind ?? 'heap', 'OutOfMemory: heap past the limit', `the worker's heap passed ${this.maxHeapMb} MB (located by a rerun)`), pauseAt);
      }
      this.pending = p;
      const req: CaseRequest = { id, target, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
      w.postMessage(req);
    });
    if (out.kind === 'heap' && this.locate && pauseAt === undefined && !out.error?.stack) {
      // rerun and pause shortly before the overflow, to see where the memory went
      const again = await this.runCase(target, data, Math.max(50, Math.floor(out.ms * 0.8)), 'heap');
      if (again.status === 'crash' && again.kind === 'heap') return { ...again, ms: out.ms };
    }
    return out;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => undefined);
      await w.terminate().catch(() => undefined);
    }
    await Promise.race([this.dying, new Promise((r) => setTimeout(r, 3000).unref())]);
    rmSync(this.tmp, { recursive: true, force: true });
    if (this.session) {
      this.session.disconnect();
      this.session = null;
    }
  }
}
