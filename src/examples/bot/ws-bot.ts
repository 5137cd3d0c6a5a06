/**
 * A bot for the WebSocket test game, built only on the typed client generated from its description
 * (./wsgame.ts, by `gamesniff codegen wsgame --ts src/examples/bot --import ../../index`): it joins a
 * room, walks to a target with `move`s (each carrying the token from `welcome`), chats, leaves,
 * and exits 0.
 *
 *   gamesniff testbed server --transport ws &
 *   node dist/examples/bot/ws-bot.js --target 20,10
 */
import { parseArgs } from 'node:util';
import { connect } from './wsgame';

const STEP = 5;

/** What `state.players` holds (the description says only `list`). */
interface Player {
  id: number;
  name: string;
  x: number;
  y: number;
}

export async function runWsBot(o: { host?: string; port: number; target: { x: number; y: number }; name?: string; room?: string; log?: (line: string) => void }): Promise<boolean> {
  const log = o.log ?? ((line: string) => console.log(line));
  const name = o.name ?? 'wsbot';
  const game = await connect({ host: o.host, port: o.port, path: '/play' });
  try {
    game.send.join({ room: o.room ?? 'lobby', name });
    const welcome = await game.next('welcome');
    const id = Number(welcome.player);
    log(`joined ${welcome.room} as player ${id}`);

    /** Move to x,y; the server answers with a state that shows where we are. */
    const move = async (seq: number, x: number, y: number): Promise<Player> => {
      game.send.move({ seq, x, y, token: welcome.token });
      const state = await game.next('state');
      const self = (state.players as Player[]).find((p) => p.id === id);
      if (!self) throw new Error(`state ${state.tick} does not show us`);
      return self;
    };
    // the server takes each move's position as ours: start from the room's corner
    let pos = await move(1, 0, 0);
    for (let seq = 2; Math.hypot(o.target.x - pos.x, o.target.y - pos.y) > 1; seq++) {
      if (seq > 500) return false;
      const d = Math.hypot(o.target.x - pos.x, o.target.y - pos.y);
      const k = Math.min(STEP, d) / d;
      pos = await move(seq, pos.x + (o.target.x - pos.x) * k, pos.y + (o.target.y - pos.y) * k);
    }
    log(`arrived at ${pos.x.toFixed(2)},${pos.y.toFixed(2)}`);

    game.send.chat({ text: `${name} made it` });
    const chat = await game.next('chat');
    log(`chat from ${chat.from}: ${chat.text}`);

    game.send.leave();
    log(`bye: ${(await game.next('bye')).reason}`);
    const close = await game.next('ws_close');
    game.send.ws_close({ code: close.code, reason: '' }); // answer the close, as WebSocket wants
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
      port: { type: 'string', default: '24080' },
      target: { type: 'string', default: '20,10' },
      name: { type: 'string', default: 'wsbot' },
    },
  });
  const [x, y] = values.target.split(',').map(Number);
  if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error(`--target wants X,Y, not ${values.target}`);
  return (await runWsBot({ host: values.host, port: Number(values.port), target: { x: x!, y: y! }, name: values.name })) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`ws-bot: ${e.message}`);
      process.exit(1);
    },
  );
}
