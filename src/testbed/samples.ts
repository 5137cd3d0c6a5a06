/**
 * `npm run samples`: makes the sample recordings in recordings/ with gamesniff's own tools. Each
 * pair from the testbed plays on loopback while `gamesniff record` (a child process, as a user
 * would run it) captures it. Needs capture privilege (root or CAP_NET_RAW).
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadProtocol } from '../protocol/protocol';
import { GameServer } from './game-server';
import { runGameClient } from './game-client';
import { chatClient, chatServer, echoClient, echoServer } from './seeds';

const ROOT = join(__dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');

async function recording(file: string, args: string[], play: () => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'record', '-o', file, ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gamesniff record did not start: ${err}`)), 10_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('capturing on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`gamesniff record exited: ${err}`)));
  });
  await play();
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGINT');
  await new Promise((r) => child.on('close', r));
  process.stdout.write(err.split('\n').filter((l) => l.startsWith('recorded')).join('\n') + '\n');
}

async function main(): Promise<void> {
  mkdirSync(join(ROOT, 'recordings'), { recursive: true });
  const tg = loadProtocol('testgame', ROOT);
  const quiet = (): void => {};

  for (const [file, clients] of [
    ['recordings/testgame-solo.gsrec', [{ name: 'solo', seed: 21 }]],
    ['recordings/testgame-duo.gsrec', [{ name: 'ann', seed: 31 }, { name: 'ben', seed: 32 }]],
  ] as const) {
    const server = new GameServer(tg, { port: 24000, seed: 1 });
    await server.start();
    await recording(file, ['-p', 'testgame', '--port', '24000,24001'], async () => {
      await Promise.all(clients.map((c) => runGameClient(tg, { port: 24000, name: c.name, seed: c.seed, rounds: 15, interval: 5 })));
    });
    await server.stop();
  }

  const echo = await echoServer({ port: 24000, log: quiet });
  await recording('recordings/echo.gsrec', ['-p', 'echo', '--port', '24000'], async () => {
    await echoClient({ port: 24000, bytes: Buffer.from([0x2c, 0x37, 0x42]) });
    await echoClient({ port: 24000, bytes: Buffer.from([0x2c, 0x37, 0x42]) });
  });
  echo.close();

  const chat = await chatServer({ port: 7000, log: quiet });
  await recording('recordings/chatroom.gsrec', ['-p', 'chatroom', '--port', '7000'], async () => {
    await Promise.all(
      ['ann', 'ben', 'cat'].map((name, i) =>
        chatClient({ port: 7000, name, lines: [`hello from ${name}`, `${name} says ${i + 1}`], log: quiet }),
      ),
    );
  });
  chat.close();
}

main().catch((e: Error) => {
  process.stderr.write(`samples: ${e.message}\n`);
  process.exitCode = 1;
});
