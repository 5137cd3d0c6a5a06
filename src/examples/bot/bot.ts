/**
 * A bot for the test game, built only on the typed client generated from its description
 * (./testgame.ts, by `gamesniff codegen testgame --ts src/examples/bot --import ../../index`) and
 * node's own modules. It logs in (with the key exchange when the server asks for one), walks to a
 * target reading its position back from the snapshots, chats once, uses an item when an NPC is
 * near, and exits 0 once it stands within 1 unit of the target (1 if it does not get there).
 *
 *   gamesniff testbed server --secure &
 *   node dist/examples/bot/bot.js --target 50,50
 */
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect, type Vec2 } from './testgame';

const STEP = 2; // units per move
const NEAR = 25; // an NPC this close gets an item used on it

export interface BotOptions {
  host?: string;
  port: number;
  /** The server's UDP port (default port + 1). */
  udpPort?: number;
  target: Vec2;
  name?: string;
  maxMoves?: number;
  log?: (line: string) => void;
}

const distance = (a: Vec2, b: Vec2): number => Math.hypot(a.x - b.x, a.y - b.y);

/**
 * The client side of the test game's key exchange: an ephemeral X25519 key, the secret it shares
 * with the server's key (sent in key_request), and a fresh session key sealed with a key derived
 * from that secret. Both directions are AES-128-CFB8 under the session key once key_response is out.
 */
function keyExchange(serverKey: Buffer): { sessionKey: Buffer; ephemeral: Buffer; sealed: Buffer } {
  const spki = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), serverKey]); // a raw X25519 key, DER-wrapped
  const mine = generateKeyPairSync('x25519');
  const shared = diffieHellman({ privateKey: mine.privateKey, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) });
  const kek = createHash('sha256').update(shared).update('testgame session key').digest();
  const sessionKey = randomBytes(16);
  return {
    sessionKey,
    ephemeral: mine.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
    sealed: Buffer.from(sessionKey.map((b, i) => b ^ kek[i]!)),
  };
}

/** Play until within 1 unit of the target: true, or false after maxMoves. */
export async function runBot(o: BotOptions): Promise<boolean> {
  const log = o.log ?? ((line: string) => console.log(line));
  const name = o.name ?? 'bot';
  const game = await connect({ host: o.host, port: o.port, udpPort: o.udpPort, connectWaitMs: 5000 });
  try {
    game.send.hello({ version: 3, features: [1] });
    log(`server: ${(await game.next('hello_ack')).motd}`);
    game.send.login({ name, password: 'hunter2', client: 'example-bot/1' });
    const me = await game.next('login_ok');

    // a secure server asks for a key exchange before anything else
    const first = await game.nextOf(['key_request', 'set_compression']);
    if (first.name === 'key_request') {
      const kx = keyExchange(first.fields.public_key);
      game.state.session_key = kx.sessionKey; // the description's cipher reads it once key_response sets `secure`
      game.send.key_response({ ephemeral: kx.ephemeral, sealed: kx.sealed });
      await game.next('set_compression');
      log('key exchange done: encrypted both ways from here');
    }
    log(`inventory: ${JSON.stringify((await game.next('inventory')).items)}`);
    game.send.ack_login({ token: me.token });

    game.send.chat({ text: `${name} walking to ${o.target.x},${o.target.y}` });
    log(`chat: ${(await game.next('chat_msg')).text}`);

    let pos = me.spawn;
    let usedItem = false;
    for (let seq = 1; distance(pos, o.target) > 1; seq++) {
      if (seq > (o.maxMoves ?? 500)) return false;
      const d = distance(pos, o.target);
      const k = Math.min(STEP, d) / d;
      const to = { x: pos.x + (o.target.x - pos.x) * k, y: pos.y + (o.target.y - pos.y) * k };
      game.send.move({ seq, pos: to, running: d > 10 });
      game.sendDatagram.position({ player_id: me.player_id, seq, pos: to, heading: Math.round((Math.atan2(to.y - pos.y, to.x - pos.x) * 180) / Math.PI) });
      const snapshot = await game.next('snapshot');
      const self = snapshot.entities.find((e) => e.kind === 'player' && e.detail === name);
      if (!self) throw new Error(`snapshot ${snapshot.tick} does not show us`);
      pos = self.pos;
      const npc = snapshot.entities.find((e) => e.kind === 'npc' && distance(e.pos, pos) < NEAR);
      if (npc && !usedItem) {
        game.send.use_item({ slot: 0 });
        log(`npc ${npc.id} (${String(npc.detail)}) ${distance(npc.pos, pos).toFixed(1)} away: used an item, inventory ${JSON.stringify((await game.next('inventory')).items)}`);
        usedItem = true;
      }
    }
    log(`arrived at ${pos.x.toFixed(2)},${pos.y.toFixed(2)}`);
    game.send.bye({ reason: 'quit' });
    await game.next('bye');
    return true;
  } finally {
    await game.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '24000' },
      'udp-port': { type: 'string' },
      target: { type: 'string', default: '50,50' },
      name: { type: 'string', default: 'bot' },
    },
  });
  const [x, y] = values.target.split(',').map(Number);
  if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error(`--target wants X,Y, not ${values.target}`);
  const udpPort = values['udp-port'] === undefined ? undefined : Number(values['udp-port']);
  return (await runBot({ host: values.host, port: Number(values.port), udpPort, target: { x: x!, y: y! }, name: values.name })) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`bot: ${e.message}`);
      process.exit(1);
    },
  );
}
