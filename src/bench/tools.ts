import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Running other programs for the bench: wall time, peak RSS, whether a tool is installed. */

export interface Run {
  seconds: number;
  peakRssMb: number;
  /** User + system CPU seconds of the process, as last read from /proc (every 20 ms). */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by the time limit. */
  killed: boolean;
}

export interface MeasureOptions {
  stdoutToNull?: boolean;
  /** Stdout goes here as it comes instead of into `stdout`. */
  onStdout?: (d: Buffer) => void;
  /** SIGKILL the process after this many seconds. */
  limitSec?: number;
}

/** Peak RSS comes from /proc/PID/status VmHWM, read until the process exits. */
export function measure(cmd: string, args: string[], opts: MeasureOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', opts.stdoutToNull ? 'ignore' : 'pipe', 'pipe'] });
    let peak = 0;
    let cpu = 0;
    let stdout = '';
    let stderr = '';
    let killed = false;
    let seconds = NaN;
    const limit = opts.limitSec
      ? setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, opts.limitSec * 1000)
      : undefined;
    child.stdout?.on('data', opts.onStdout ?? ((d: Buffer) => (stdout += d.toString())));
    // what matters is the tail (a crash's message): keep it bounded
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-65536)));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
        cpu = cpuTicks(child.pid!) ?? cpu;
      } catch {
        // exited
      }
    }, 20);
    child.on('error', (e) => (stderr += String(e)));
    child.on('exit', () => {
      seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      clearInterval(poll);
      clearTimeout(limit);
    });
    // resolve once stdout and stderr have been read to their end
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(limit);
      if (Number.isNaN(seconds)) seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ seconds, peakRssMb: peak / 1024, cpuSeconds: cpu / TICKS, stdout, stderr, code, signal, killed });
    });
  });
}

export function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}


/** Clock ticks a second for /proc/PID/stat (USER_HZ, 100 on Linux). */
export const TICKS = 100;

/** utime + stime of a process from /proc/PID/stat, in clock ticks; null once it is gone. */
export function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces and parentheses: fields count from the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

/**
 * A capturing child: `ready` is true once it says it captures (gamesniff's "capturing on",
 * tcpdump's "listening on"), false when it exits or 15 s pass first; its stderr is kept.
 */
export function captureStarted(child: ChildProcess): { ready: Promise<boolean>; closed: Promise<void>; stderr: () => string } {
  let err = '';
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  const ready = new Promise<boolean>((resolve) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (/capturing on|listening on/.test(err)) resolve(true);
    });
    void closed.then(() => resolve(false));
    setTimeout(() => resolve(false), 15_000);
  });
  return { ready, closed, stderr: () => err };
}
