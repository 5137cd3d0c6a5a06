import * as net from 'node:net';

/**
 * Sends length-prefixed frames over one TCP connection to a receiver it
 * listens with on 127.0.0.1:PORT, as fast as it can for SECONDS (at most RATE
 * frames a second when given): each frame a u16le body length, then 62 bytes
 * of 0x47, PER_WRITE frames a write. Prints the number of frames sent once
 * the connection is closed. Loopback only.
 */
const [portArg, secondsArg, rateArg, perWriteArg] = process.argv.slice(2);
const port = Number(portArg);
const seconds = Number(secondsArg ?? 3);
const rate = Number(rateArg ?? 0);
const perWrite = Number(perWriteArg ?? 16);

const FRAME = 64;
const chunk = Buffer.alloc(FRAME * perWrite, 0x47);
for (let i = 0; i < perWrite; i++) chunk.writeUInt16LE(FRAME - 2, i * FRAME);

const server = net.createServer((s) => {
  s.on('data', () => undefined);
  s.on('end', () => s.end());
});
server.listen(port, '127.0.0.1', () => {
  const c = net.connect(port, '127.0.0.1', () => {
    const start = Date.now();
    const until = start + seconds * 1000;
    let sent = 0;
    const pump = (): void => {
      for (;;) {
        const now = Date.now();
        if (now >= until) {
          c.end();
          return;
        }
        if (rate > 0 && sent + perWrite > ((now - start) / 1000) * rate) {
          setImmediate(pump);
          return;
        }
        sent += perWrite;
        if (!c.write(chunk)) {
          c.once('drain', pump);
          return;
        }
        if (sent % (perWrite * 64) === 0) {
          setImmediate(pump);
          return;
        }
      }
    };
    c.on('close', () => {
      server.close();
      process.stdout.write(`${sent}\n`);
    });
    pump();
  });
});
