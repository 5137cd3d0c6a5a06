/**
 * Socket adapters for the replay engine: as the client (connect to a target) or as the server
 * (listen, accept the live client). They only carry commands out and events in.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { endpointString } from '../core/types';
import { ReplayEngine, type ReplayCommand, type ReplayOptions, type ReplayReport } from './engine';
import { ScriptStream, type ReplayScript } from './script';
import { parseHostPort, type HostPort } from '../client/net';

export { parseHostPort, type HostPort };


export interface ReplaySocketOptions extends ReplayOptions {
  /** Client role: the server to replay against. Server role: where to listen. */
  address: HostPort;
  /** UDP: where to send (client) or listen (server); default: the recorded UDP port's distance from the TCP port, kept. */
  udpAddress?: HostPort;
  /** Client role: how long refused connections are retried at the start (a server just started), ms; default 5000. */
  connectWaitMs?: number;
  /** Told once the server role listens (its ports), or the client role starts. */
  onReady?: (tcp: HostPort, udp: HostPort | null) => void;
}

/** How long a refused connection is retried at the start of a replay (a server just started). */
const CONNECT_RETRY_MS = 5000;

/** Recorded server port -> live port: the first TCP server port maps to `address`, others keep their distance from it. */
function portMapper(script: ReplayScript, address: HostPort, udpAddress?: HostPort): (conn: number) => HostPort {
  let primary: number | null = null;
  const primaryPort = (): number => {
    if (primary !== null) return primary;
    const conns = [...script.connections.values()];
    const tcp = conns.find((c) => c.transport === 'tcp');
    // a streamed recording's first TCP connection may not be read yet
    if (tcp || script.complete !== false) primary = tcp?.server.port ?? conns[0]?.server.port ?? address.port;
    return primary ?? conns[0]?.server.port ?? address.port;
  };
  return (conn) => {
    const c = script.connections.get(conn)!;
    if (c.transport === 'udp' && udpAddress) return udpAddress;
    return { host: address.host, port: address.port + (c.server.port - primaryPort()) };
  };
}

/** Steps a streamed recording may have read ahead of the replay (more are read as it walks them). */
const READ_AHEAD = 2048;

/** Replay a script, or a recording streamed as it is replayed (ScriptStream: its steps are read as the replay walks them). */
export function runReplay(input: ReplayScript | ScriptStream, o: ReplaySocketOptions): Promise<ReplayReport> {
  const stream = input instanceof ScriptStream ? input : null;
  const script = stream ? stream.script : (input as ReplayScript);
  const engine = new ReplayEngine(script, o);
  const now = (): number => performance.now();
  const tcp = new Map<number, net.Socket>();
  const udp = new Map<number, dgram.Socket>();
  const udpRemote = new Map<number, HostPort>();
  const liveAddress = portMapper(script, o.address, o.udpAddress);
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Infinity;
  let server: net.Server | null = null;
  let serverUdp: dgram.Socket | null = null;
  /** Client role: bytes for connections still connecting, and closes asked for meanwhile. */
  const pending = new Map<number, Buffer[]>();
  const closeAfter = new Set<number>();

  return new Promise<ReplayReport>((resolve) => {
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      // Give written bytes and our FINs a moment to leave before the sockets go.
      setTimeout(() => {
        for (const s of tcp.values()) s.destroy();
        for (const s of udp.values()) s.close();
        serverUdp?.close();
        server?.close();
        resolve(engine.report);
      }, 50);
    };

    const run = (cmds: ReplayCommand[]): void => {
      for (const c of cmds) {
        switch (c.kind) {
          case 'connect':
            connect(c.conn);
            break;
          case 'send': {
            const s = tcp.get(c.conn);
            if (s) {
              if (!s.destroyed) s.write(c.bytes);
              break;
            }
            if (script.connections.get(c.conn)?.transport === 'tcp' && o.role === 'client') {
              // still connecting: sent once connected
              const q = pending.get(c.conn) ?? [];
              q.push(c.bytes);
              pending.set(c.conn, q);
              break;
            }
            const u = udp.get(c.conn) ?? serverUdp;
            const to = o.role === 'client' ? liveAddress(c.conn) : udpRemote.get(c.conn);
            if (u && to) u.send(c.bytes, to.port, to.host);
            break;
          }
          case 'close': {
            const s = tcp.get(c.conn);
            if (s && !s.destroyed) c.how === 'rst' ? s.resetAndDestroy() : s.end();
            else if (!s && o.role === 'client') closeAfter.add(c.conn); // still connecting
            break;
          }
          case 'adopt': {
            const sock = tcp.get(c.from);
            const ref = refs.get(c.from);
            if (!sock || !ref) break;
            tcp.delete(c.from);
            refs.delete(c.from);
            ref.conn = c.conn;
            tcp.set(c.conn, sock);
            refs.set(c.conn, ref);
            break;
          }
          case 'timer':
            if (c.at < timerAt || !timer) {
              if (timer) clearTimeout(timer);
              timerAt = c.at;
              timer = setTimeout(() => {
                timer = null;
                timerAt = Infinity;
                run(engine.tick(now()));
              }, Math.max(0, c.at - now()));
            }
            break;
          case 'done':
            finish();
            return;
        }
      }
      stream?.poke();
    };
    if (stream) {
      stream.wanted = () => engine.ahead < READ_AHEAD;
      stream.onSteps = () => {
        if (!ended) run(engine.more(now()));
      };
      stream.done.catch((e: Error) => run(engine.failed(`cannot read the recording: ${e.message}`)));
    }

    // which recorded connection a socket plays can change once (a candidate adopted): handlers read it here
    const refs = new Map<number, { conn: number }>();
    const watch = (conn: number, s: net.Socket): void => {
      const ref = { conn };
      refs.set(conn, ref);
      tcp.set(conn, s);
      s.setNoDelay(true);
      s.on('data', (d: Buffer) => run(engine.received(ref.conn, d, now())));
      s.on('end', () => run(engine.peerClosed(ref.conn, 'fin', now())));
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNRESET' || e.code === 'EPIPE') run(engine.peerClosed(ref.conn, 'rst', now()));
      });
    };

    // A server started a moment before (in the background) may not listen yet: refused
    // connections are retried for the first few seconds of the replay.
    const started = now();
    const connect = (conn: number): void => {
      const c = script.connections.get(conn)!;
      const to = liveAddress(conn);
      if (c.transport === 'udp') {
        const u = dgram.createSocket(net.isIPv6(to.host) ? 'udp6' : 'udp4');
        u.on('message', (msg) => run(engine.received(conn, msg, now())));
        u.on('error', () => {});
        udp.set(conn, u);
        return;
      }
      const attempt = (): void => {
        const s = net.connect({ host: to.host, port: to.port, allowHalfOpen: true });
        let connected = false;
        s.once('connect', () => {
          connected = true;
          watch(conn, s);
          const queued = pending.get(conn) ?? [];
          pending.delete(conn);
          for (const b of queued) s.write(b);
          if (closeAfter.delete(conn)) s.end();
        });
        s.once('error', (e: NodeJS.ErrnoException) => {
          if (connected || ended) return;
          if (e.code === 'ECONNREFUSED' && now() - started < (o.connectWaitMs ?? CONNECT_RETRY_MS)) {
            setTimeout(attempt, 100);
            return;
          }
          run(engine.failed(`cannot connect to ${endpointString({ addr: to.host, port: to.port })} (recorded connection #${conn}): ${e.message}`));
        });
      };
      attempt();
    };

    if (o.role === 'client') {
      o.onReady?.(o.address, null);
      run(engine.start(now()));
      return;
    }
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      const { conn, commands } = engine.accepted(now());
      if (conn === -1) s.destroy();
      else watch(conn, s);
      run(commands);
    });
    server.once('error', (e) => run(engine.failed(`cannot listen on ${o.address.host}:${o.address.port}: ${e.message}`)));
    server.listen(o.address.port, o.address.host, () => {
      const tcpAt = { host: o.address.host, port: (server!.address() as net.AddressInfo).port };
      const udpConn = [...script.connections.values()].find((c) => c.transport === 'udp');
      if (!udpConn || !script.protocol.udp) {
        o.onReady?.(tcpAt, null);
        run(engine.start(now()));
        return;
      }
      const want = o.udpAddress ?? { host: o.address.host, port: liveAddress(udpConn.conn).port - o.address.port + tcpAt.port };
      serverUdp = dgram.createSocket(net.isIPv6(want.host) ? 'udp6' : 'udp4');
      serverUdp.on('message', (msg, rinfo) => {
        const { conn, commands } = engine.datagramFrom(`${rinfo.address}:${rinfo.port}`, msg, now());
        if (conn >= 0) udpRemote.set(conn, { host: rinfo.address, port: rinfo.port });
        run(commands);
      });
      serverUdp.once('error', (e) => run(engine.failed(`cannot listen on udp ${want.host}:${want.port}: ${e.message}`)));
      serverUdp.bind(want.port, want.host, () => {
        o.onReady?.(tcpAt, { host: want.host, port: serverUdp!.address().port });
        run(engine.start(now()));
      });
    });
  });
}
