import * as dgram from 'node:dgram';

/**
 * Sends small UDP datagrams to 127.0.0.1:PORT as fast as it can for SECONDS
 * (and at most MAX datagrams; at most RATE a second when given, so that two
 * captures can be compared under the same load), with a receiver bound there
 * so that no ICMP errors come back. Prints the number sent. Loopback only.
 */
const [portArg, secondsArg, maxArg, rateArg] = process.argv.slice(2);
const port = Number(portArg);
const seconds = Number(secondsArg ?? 3);
const max = Number(maxArg ?? 5_000_000);
const rate = Number(rateArg ?? 0);

const rx = dgram.createSocket('udp4');
rx.on('message', () => undefined);
rx.bind(port, '127.0.0.1', () => {
  const tx = dgram.createSocket('udp4');
  const payload = Buffer.alloc(64, 0x47);
  const start = Date.now();
  const until = start + seconds * 1000;
  let sent = 0;
  const burst = (): void => {
    const now = Date.now();
    if (now >= until || sent >= max) {
      // let the last sends leave before reporting
      setTimeout(() => {
        process.stdout.write(`${sent}\n`);
        tx.close();
        rx.close();
      }, 200);
      return;
    }
    const due = rate > 0 ? Math.min(max, Math.floor(((now - start) / 1000) * rate)) : max;
    for (let i = 0; i < 256 && sent < due; i++, sent++) tx.send(payload, port, '127.0.0.1');
    setImmediate(burst);
  };
  burst();
});
