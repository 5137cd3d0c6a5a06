/**
 * --watch: run again on every save of some files, until Ctrl-C (SIGINT) or SIGTERM, which end it
 * with exit 0. Files are watched with chokidar, which follows a file that an editor saves by
 * writing another and renaming it over (an atomic save: vim, many IDEs), a file deleted and made
 * again, and one that does not exist yet; fs.watch on the file alone stops hearing after the
 * first rename.
 */
import { basename } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { clockTime } from '../session/format';
import { say } from './output';

export interface WatchRun {
  /** 0 for the first run, then 1, 2, ... */
  run: number;
  /** The files saved since the last run (none for the first). */
  changed: string[];
  /** Aborted on Ctrl-C: a long run stops early. */
  signal: AbortSignal;
}

export interface WatchOptions {
  files: string[];
  /** One run: it prints what it has to say; an exception is said and the watch goes on. */
  run: (r: WatchRun) => Promise<void> | void;
  /** Saves this close together make one run (an editor that writes a file in several steps). */
  settleMs?: number;
}

/** The line that opens each run after the first: the time and which files changed. */
export function runHeader(r: WatchRun): string {
  const what = r.changed.length ? `${r.changed.map((f) => basename(f)).join(', ')} changed` : 'run again';
  return `== ${clockTime(Date.now() * 1000)} ${what}`;
}

/**
 * Run once, then again after each save of one of `files` (runs never overlap: saves during a run
 * make one more run after it). Resolves on SIGINT or SIGTERM, the watcher closed.
 */
export async function watchFiles(o: WatchOptions): Promise<void> {
  const abort = new AbortController();
  let stopped = false;
  let wake: (() => void) | null = null;
  const stop = (): void => {
    stopped = true;
    abort.abort();
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let watcher: FSWatcher | null = null;
  try {
    const pending = new Set<string>();
    let timer: NodeJS.Timeout | null = null;
    const settle = o.settleMs ?? 100;
    // loaded here: every decode and check would load it otherwise, watching or not
    watcher = (require('chokidar') as typeof import('chokidar')).watch(o.files, { ignoreInitial: true, atomic: true, persistent: true });
    watcher.on('all', (_event, path) => {
      pending.add(path);
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        wake?.();
      }, settle);
    });
    watcher.on('error', (e) => say(`watch: ${(e as Error).message}`));
    const ready = new Promise<void>((resolve) => watcher!.once('ready', () => resolve()));
    let run = 0;
    const once = async (changed: string[]): Promise<void> => {
      try {
        await o.run({ run: run++, changed, signal: abort.signal });
      } catch (e) {
        // a run that failed (an input that cannot be read mid-save): said, and the watch goes on
        say(`gamesniff: ${(e as Error).message}`);
      }
    };
    await once([]);
    await ready;
    if (!stopped) say(`watching ${o.files.join(', ')} (Ctrl-C to stop)`);
    while (!stopped) {
      if (pending.size === 0 || timer) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      const changed = [...pending];
      pending.clear();
      await once(changed);
    }
    if (timer) clearTimeout(timer);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await watcher?.close();
  }
}
