/**
 * The test game client: hello, login, ack_login, then `rounds` rounds of move (answered by a
 * snapshot), with a chat every third round, a use_item every fourth and a ping every fifth, and a
 * UDP position each round; then bye. Its moves come from the seed, so two runs with the same name
 * and seed send the same messages.
 */
import * as dgram from 'node:dgram';
import { connectWithRetry } from '../client/net';
import type { Protocol } from '../protocol/protocol';
import { Peer } from '../client/peer';
import { mulberry32 } from '../core/rng';
import { round2 } from './random';
import { clientKeyExchange, logSessionKey } from './secure';

export interface GameClientOptions {
  host?: string;
  port: number;
  udpPort?: number;
  name: string;
  rounds: number;
  seed: number;
  /** Pause between rounds, ms. */
  interval?: number;
  /** Give up waiting for a reply after this long, ms. */
  timeout?: number;
  /** Keep trying to connect this long while nothing listens yet (a server just started), ms. */
  connectWaitMs?: number;
  log?: (line: string) => void;
  /** Insist on the key exchange (a server without --secure is an error); a secure server's request is always answered. */
  secure?: boolean;
  /** Append the session key here before it is used (a key log gamesniff reads with --keylog). */
  keylog?: string;
}

export interface GameClientResult {
  rounds: number;
  sent: number;
  received: number;
  playerId: number;
}

export async function runGameClient(protocol: Protocol, o: GameClientOptions): Promise<GameClientResult> {
  const host = o.host ?? '127.0.0.1';
  const socket = await connectWithRetry(o.port, host, o.connectWaitMs);
  socket.setNoDelay(true);
  const queue: { name: string; fields: Record<string, unknown> }[] = [];
  let waiter: (() => void) | null = null;
  let failure: Error | null = null;
  let received = 0;
  let sent = 0;
  const peer = new Peer(protocol, socket, 's2c', (m) => {
    if (m.raw !== undefined) failure = new Error(`server sent unframed bytes: ${m.raw}`);
    else if (m.error || !m.name) failure = new Error(`server sent a message that does not decode: ${m.error?.message ?? 'unknown'}`);
    else {
      received++;
      queue.push({ name: m.name, fields: m.fields ?? {} });
    }
    waiter?.();
  });
  socket.on('close', () => waiter?.());
  const timeout = o.timeout ?? 5000;

  /** Wait for a message by name (or the first of several); chat relays from other players may come in between. */
  const expectOne = async (...names: string[]): Promise<{ name: string; fields: Record<string, unknown> }> => {
    const deadline = Date.now() + timeout;
    const name = names.join(' or ');
    for (;;) {
      if (failure) throw failure;
      const i = queue.findIndex((m) => names.includes(m.name) || m.name === 'error');
      if (i >= 0) {
        const [m] = queue.splice(i, 1);
        if (m.name === 'error') throw new Error(`server error ${String(m.fields.code)}: ${String(m.fields.message)}`);
        return m;
      }
      if (peer.closed) throw new Error(`connection closed while waiting for ${name}`);
      if (Date.now() > deadline) throw new Error(`no ${name} from the server within ${timeout} ms`);
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
      waiter = null;
    }
  };
  const expect = async (name: string): Promise<Record<string, unknown>> => (await expectOne(name)).fields;
  const send = (name: string, fields: unknown) => {
    peer.send(name, fields);
    sent++;
  };

  const rng = mulberry32(o.seed);
  const udp = protocol.udp && o.udpPort !== 0 ? dgram.createSocket('udp4') : null;
  try {
    send('hello', { version: 3, features: [1, 2, 3] });
    await expect('hello_ack');
    send('login', { name: o.name, password: `pw-${o.seed}`, client: 'gamesniff-testbed/1' });
    const ok = await expect('login_ok');
    const next = await expectOne('key_request', 'set_compression');
    if (next.name === 'key_request') {
      const kx = clientKeyExchange(next.fields.public_key as Buffer);
      // the key is known here before it is used: the log has it before any encrypted byte is on the wire
      logSessionKey(o.keylog, { addr: socket.localAddress ?? '', port: socket.localPort ?? 0 }, kx.sessionKey);
      peer.conv.state.session_key = kx.sessionKey;
      send('key_response', { ephemeral: kx.ephemeral, sealed: kx.sealed });
      await expect('set_compression');
    } else if (o.secure) throw new Error('the server did not ask for a key exchange (start it with --secure)');
    await expect('inventory');
    send('ack_login', { token: ok.token });
    const playerId = ok.player_id as number;
    let pos = ok.spawn as { x: number; y: number };
    for (let r = 1; r <= o.rounds; r++) {
      pos = { x: round2(pos.x + (rng() - 0.5) * 4), y: round2(pos.y + (rng() - 0.5) * 4) };
      send('move', { seq: r, pos, running: rng() < 0.3 });
      await expect('snapshot');
      if (udp) {
        const d = protocol.udp!.encode('position', { player_id: playerId, seq: r, pos, heading: Math.round((rng() - 0.5) * 360) }, {});
        udp.send(d, o.udpPort ?? o.port + 1, host);
      }
      if (r % 3 === 0) {
        send('chat', { text: `round ${r} from ${o.name}` });
        await expect('chat_msg');
      }
      if (r % 4 === 0) {
        send('use_item', { slot: Math.floor(rng() * 3) });
        await expect('inventory');
      }
      if (r % 5 === 0) {
        send('ping', { nonce: Math.floor(rng() * 0xffffffff) });
        await expect('ping');
      }
      if (o.interval) await new Promise((res) => setTimeout(res, o.interval));
    }
    send('bye', { reason: 'quit' });
    await expect('bye');
    o.log?.(`client ${o.name}: ${o.rounds} rounds, ${sent} messages sent, ${received} received`);
    return { rounds: o.rounds, sent, received, playerId };
  } finally {
    udp?.close();
    socket.end();
    await new Promise<void>((r) => (socket.closed ? r() : socket.once('close', () => r())));
  }
}
