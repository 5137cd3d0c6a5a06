/**
 * The ports of an application, not of a port number (Linux): the sockets a process owns
 * (/proc/PID/fd links to socket:[INODE]) matched against the kernel's socket tables
 * (/proc/net/tcp, tcp6, udp, udp6). A listening socket gives its own port; a connected one, the
 * port of its server (the remote port when the process is the client). Polled, so the capture
 * follows a game that opens and closes ports as it plays.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { GamesniffError } from '../core/errors';

export interface ProcessTarget {
  /** A process name: its command (comm) or its argv[0]'s base name. */
  name?: string;
  pid?: number;
}

const TCP_LISTEN = 0x0a;

/** The pids that match. */
export function findPids(t: ProcessTarget, proc = '/proc'): number[] {
  if (t.pid !== undefined) {
    try {
      readFileSync(`${proc}/${t.pid}/stat`);
    } catch {
      throw new GamesniffError('USAGE', `--pid ${t.pid}: no such process (ps -e lists what runs)`);
    }
    return [t.pid];
  }
  const pids: number[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`${proc}/${entry}/comm`, 'utf8').trim();
      const argv0 = readFileSync(`${proc}/${entry}/cmdline`, 'latin1').split('\0')[0] ?? '';
      if (comm === t.name || basename(argv0) === t.name) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** The socket inodes a process holds. */
function socketInodes(pid: number, proc: string): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`${proc}/${pid}/fd`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new GamesniffError('USAGE', `cannot see the sockets of process ${pid}: permission denied (run gamesniff as root, or as the user the game runs as)`);
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${proc}/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** The application's server ports from its sockets (see the top of this file). */
export function portsOf(pids: readonly number[], proc = '/proc'): Set<number> {
  const inodes = new Set<string>();
  for (const pid of pids) for (const i of socketInodes(pid, proc)) inodes.add(i);
  const ports = new Set<number>();
  const listening = new Set<number>();
  const connected: { local: number; remote: number }[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(`${proc}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const local = parseInt(f[1]!.split(':')[1]!, 16);
      const remote = parseInt(f[2]!.split(':')[1]!, 16);
      const state = parseInt(f[3]!, 16);
      if (table.startsWith('tcp') ? state === TCP_LISTEN : remote === 0) listening.add(local);
      else connected.push({ local, remote });
    }
  }
  for (const p of listening) ports.add(p);
  // a connection to one of its own listening ports is served here; any other, by the remote end
  for (const c of connected) ports.add(listening.has(c.local) ? c.local : c.remote);
  return ports;
}

/** The ports of a process, polled: `ports` is kept up to date (the same Set), `onChange` says what changed. */
export class ProcessPorts {
  readonly ports = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  readonly label: string;

  constructor(
    readonly target: ProcessTarget,
    private readonly proc = '/proc',
  ) {
    this.label = target.pid !== undefined ? `pid ${target.pid}` : `process ${target.name}`;
    const pids = findPids(target, proc);
    if (pids.length === 0) throw new GamesniffError('USAGE', `--process ${target.name}: no process of that name (ps -e lists what runs; the name is its command, or its argv[0])`);
    for (const p of portsOf(pids, proc)) this.ports.add(p);
  }

  /** Look again every `ms`; `onChange(added, removed)` when the ports changed. */
  poll(ms: number, onChange: (added: number[], removed: number[]) => void): void {
    this.timer = setInterval(() => {
      let now: Set<number>;
      try {
        now = portsOf(findPids(this.target, this.proc), this.proc);
      } catch {
        return;
      }
      const added = [...now].filter((p) => !this.ports.has(p));
      const removed = [...this.ports].filter((p) => !now.has(p));
      // a port the game closed may still carry the end of a connection: keep following it
      for (const p of added) this.ports.add(p);
      if (added.length || removed.length) onChange(added, removed);
    }, ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
