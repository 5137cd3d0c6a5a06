/** Socket set-up shared by the testbed's clients and servers. */
import * as net from 'node:net';
import { GamesniffError } from '../core/errors';

/**
 * Connect, retrying while the server is not listening yet (a server started in the background a
 * moment before: `gamesniff testbed server & gamesniff testbed client`), for up to `waitMs`.
 */
export async function connectWithRetry(port: number, host: string, waitMs = 5000, opts: { allowHalfOpen?: boolean } = {}): Promise<net.Socket> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const socket = net.connect({ port, host, allowHalfOpen: opts.allowHalfOpen });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      return socket;
    } catch (e) {
      socket.destroy();
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ECONNREFUSED' && code !== 'ECONNRESET') || Date.now() >= deadline) {
        throw new GamesniffError('FAILED', `cannot connect to ${host}:${port}: ${(e as Error).message}${code === 'ECONNREFUSED' ? ` (nothing listened there for ${waitMs / 1000} s: is the server running?)` : ''}`, 1);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A server that cannot listen: one line with the likely fix (exit 2). */
export function listenError(e: unknown, what: string, host: string, port: number): GamesniffError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'the port is in use (another server already running? choose another with --port)' : code === 'EACCES' ? 'no permission to use that port' : (e as Error).message;
  return new GamesniffError('INPUT', `cannot start ${what} on ${host}:${port}: ${why}`);
}

export interface HostPort {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPV6]:PORT` or `PORT` (on `defaultHost`), for options like --target and --listen. */
export function parseHostPort(text: string, what: string, defaultHost = '127.0.0.1'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new GamesniffError('USAGE', `${what} "${text}": expected HOST:PORT or PORT`);
  return { host: m[1] || m[2] || defaultHost, port };
}
