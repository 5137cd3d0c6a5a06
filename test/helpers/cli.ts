import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '../..');
export const CLI = join(ROOT, 'dist/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI to completion. */
export function gs(args: string[], opts: { timeout?: number; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 30_000, cwd: opts.cwd ?? ROOT, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** Resolves when the process exits, with everything it wrote. */
  done: Promise<CliResult>;
  stdout(): string;
  stderr(): string;
}

/** Start the CLI in the background; resolves once its stderr contains `ready` (e.g. "capturing on"). */
export async function startCli(args: string[], ready: string | null, opts: { timeout?: number; cwd?: string } = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout: out, stderr: err })));
  if (ready !== null) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`"${ready}" did not appear within the time limit: ${err}`)), opts.timeout ?? 10_000);
      const check = (): void => {
        if (!err.includes(ready)) return;
        clearTimeout(timer);
        child.stderr.off('data', check);
        resolve();
      };
      child.stderr.on('data', check);
      child.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`exited before "${ready}": ${err}`));
      });
    });
  }
  return { child, done, stdout: () => out, stderr: () => err };
}
