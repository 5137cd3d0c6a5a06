/**
 * The seeds' simple pairs, so a newcomer can redo their experiments on one machine:
 * - echo: TestTcpReceiver (accept, read, print, close) and TestTcpSender (connect, send a few bytes, close);
 * - chat room: the server relays `name\t: message` lines to everyone as `!name\t: message\n`.
 */
import * as net from 'node:net';
import { connectWithRetry, listenError } from '../client/net';

export async function echoServer(o: { port: number; host?: string; once?: boolean; log: (s: string) => void }): Promise<net.Server> {
  const srv = net.createServer((sock) => {
    const parts: Buffer[] = [];
    sock.on('data', (d) => parts.push(d));
    sock.on('end', () => {
      const data = Buffer.concat(parts);
      o.log(`received ${data.length} bytes from ${sock.remoteAddress}:${sock.remotePort}: ${data.toString('hex')} (${JSON.stringify(data.toString('latin1'))})`);
      sock.end();
      if (o.once) srv.close();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (e) => reject(listenError(e, 'the echo server', o.host ?? '127.0.0.1', o.port)));
    srv.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  return srv;
}

export async function echoClient(o: { port: number; host?: string; bytes: Buffer }): Promise<void> {
  const c = await connectWithRetry(o.port, o.host ?? '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    c.on('error', reject);
    c.on('close', () => resolve());
    c.resume();
    c.end(o.bytes);
  });
}

export async function chatServer(o: { port: number; host?: string; log: (s: string) => void }): Promise<net.Server> {
  const clients = new Map<net.Socket, string>();
  const srv = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      const text = d.toString('utf8');
      const name = clients.get(sock);
      if (name === undefined) {
        clients.set(sock, text);
        o.log(`---- ${text} joined ----`);
        return;
      }
      const sep = text.indexOf('\t: ');
      if (sep < 0) {
        sock.end(`server\t: expected "name\\t: message"\n`);
        return;
      }
      const say = text.slice(sep + 3);
      o.log(`${name}\t: ${say}`);
      if (say === 'exit') {
        sock.end(`exit\t: ${name}\n`);
        return;
      }
      for (const other of clients.keys()) other.write(`!${name}\t: ${say}\n`);
    });
    sock.on('close', () => clients.delete(sock));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', (e) => reject(listenError(e, 'the chat server', o.host ?? '127.0.0.1', o.port)));
    srv.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  return srv;
}

/** Join, say each line and wait for its relay, then exit. */
export async function chatClient(o: { port: number; host?: string; name: string; lines: string[]; log: (s: string) => void; timeout?: number }): Promise<void> {
  const sock = await connectWithRetry(o.port, o.host ?? '127.0.0.1');
  sock.setNoDelay(true);
  let seen = '';
  sock.on('data', (d) => {
    seen += d.toString('utf8');
  });
  const waitFor = async (text: string) => {
    const deadline = Date.now() + (o.timeout ?? 5000);
    while (!seen.includes(text)) {
      if (Date.now() > deadline || sock.closed) throw new Error(`no "${text.trim()}" from the chat server`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  sock.write(o.name);
  // The server reads one TCP chunk per message: give it time to see the name on its own.
  await new Promise((r) => setTimeout(r, 50));
  for (const line of [...o.lines, 'exit']) {
    sock.write(`${o.name}\t: ${line}`);
    await waitFor(line === 'exit' ? `exit\t: ${o.name}` : `!${o.name}\t: ${line}\n`);
  }
  o.log(seen.trimEnd());
  await new Promise<void>((r) => (sock.closed ? r() : sock.once('close', () => r())));
}
