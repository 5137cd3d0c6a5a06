/**
 * Key logs: secrets a sniffer cannot see (exchanged under RSA or ECDH, typed by the user), given
 * per connection, as TLS's SSLKEYLOGFILE gives them to Wireshark. A line says which connection
 * (its client's address and port), which state variable, and the value in hex:
 *
 *   # comments and blank lines are ignored
 *   127.0.0.1:51234 session_key 000102030405060708090a0b0c0d0e0f
 *   [::1]:40000 session_key 0f0e0d0c0b0a09080706050403020100
 *
 * The value becomes bytes in the connection's state under that name, where the description's
 * transforms read it (`key: session_key`). A live key log grows while gamesniff reads it: a
 * connection not found yet makes it read what was appended since.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GamesniffError } from '../core/errors';
import type { Endpoint } from '../core/types';

export interface KeyLogEntry {
  client: string;
  name: string;
  value: Buffer;
}

const LINE = /^(\S+):(\d{1,5})\s+([A-Za-z_][A-Za-z0-9_]*)\s+((?:[0-9a-fA-F]{2})+)$/;

/** The entries of key log text; a malformed line is an error naming the line. */
export function parseKeyLog(text: string, file = 'key log', firstLine = 1): KeyLogEntry[] {
  const out: KeyLogEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = LINE.exec(line);
    if (!m) throw new GamesniffError('INPUT', `${file}:${firstLine + i}: expected 'ADDRESS:PORT NAME HEX' (127.0.0.1:51234 session_key 0011...), found ${JSON.stringify(line.slice(0, 80))}`);
    const addr = m[1]!.replace(/^\[(.*)\]$/, '$1');
    out.push({ client: `${addr}:${Number(m[2])}`, name: m[3]!, value: Buffer.from(m[4]!, 'hex') });
  });
  return out;
}

/** One key log line, as a writer appends it. */
export function keyLogLine(client: Endpoint, name: string, value: Buffer): string {
  const addr = client.addr.includes(':') ? `[${client.addr}]` : client.addr;
  return `${addr}:${client.port} ${name} ${value.toString('hex')}\n`;
}

/** A key log file, read as it grows. */
export class KeyLog {
  private readonly byClient = new Map<string, Record<string, Buffer>>();
  private read = 0;
  private partial = '';
  private lineNo = 0;

  constructor(readonly file: string) {
    this.catchUp();
  }

  /** The state a connection from `client` starts with, or undefined when the log does not name it (yet). */
  keysFor(client: Endpoint): Record<string, Buffer> | undefined {
    const key = `${client.addr}:${client.port}`;
    const found = this.byClient.get(key);
    if (found) return found;
    this.catchUp();
    return this.byClient.get(key);
  }

  get size(): number {
    return this.byClient.size;
  }

  /** Read what was appended since the last read. */
  private catchUp(): void {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (e) {
      throw new GamesniffError('INPUT', `${this.file}: cannot read the key log: ${(e as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.read) this.read = 0; // replaced: read it again
      if (size === this.read) return;
      const buf = Buffer.alloc(size - this.read);
      readSync(fd, buf, 0, buf.length, this.read);
      this.read = size;
      const text = this.partial + buf.toString('utf8');
      const end = text.lastIndexOf('\n');
      // a line still being written waits for its newline
      this.partial = end < 0 ? text : text.slice(end + 1);
      const whole = end < 0 ? '' : text.slice(0, end);
      for (const e of parseKeyLog(whole, this.file, this.lineNo + 1)) {
        const rec = this.byClient.get(e.client) ?? {};
        rec[e.name] = e.value;
        this.byClient.set(e.client, rec);
      }
      this.lineNo += whole ? whole.split('\n').length : 0;
    } finally {
      closeSync(fd);
    }
  }
}
