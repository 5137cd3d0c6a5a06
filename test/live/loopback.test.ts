import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parsePorts } from '../../src/capture/ports';
import { liveSource } from '../../src/capture/source';
import { FlowTable } from '../../src/flow/table';
import { Collector, data, sha256 } from '../helpers/collect';

const isRoot = process.getuid?.() === 0;

/** Serve once on 127.0.0.1: reply `reply` to whatever arrives, then close. */
function server(reply: Buffer[]): Promise<{ port: number; received: Promise<Buffer>; close: () => void }> {
  return new Promise((resolve) => {
    let gotAll: (b: Buffer) => void;
    const received = new Promise<Buffer>((r) => (gotAll = r));
    const srv = net.createServer((sock) => {
      const parts: Buffer[] = [];
      sock.on('data', (d) => parts.push(d));
      sock.on('end', () => {
        for (const r of reply) sock.write(r);
        sock.end();
        gotAll(Buffer.concat(parts));
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      resolve({ port, received, close: () => srv.close() });
    });
  });
}

function send(port: number, writes: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => {
      for (const w of writes) sock.write(w);
      sock.end();
    });
    sock.on('data', (d) => parts.push(d));
    sock.on('close', () => resolve(Buffer.concat(parts)));
    sock.on('error', reject);
  });
}

describe.skipIf(!isRoot)('live capture on loopback', () => {
  it('delivers exactly the bytes real sockets exchanged, both directions, including a write over 64 KiB', async () => {
    const c2sWrites = [Buffer.from('hello gamesniff\n'), randomBytes(3 * 1024 * 1024 + 17), Buffer.from('bye')];
    for (let i = 0; i < 50; i++) c2sWrites.push(randomBytes(1 + i * 37));
    const s2cWrites = [randomBytes(200_000), Buffer.from('ok')];
    const srv = await server(s2cWrites);
    const collector = new Collector();
    const ports = parsePorts([String(srv.port)]);
    const table = new FlowTable(collector, { serverPorts: ports.set });
    let closed!: () => void;
    const connectionClosed = new Promise<void>((r) => (closed = r));
    collector.close = () => closed();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const source = liveSource({ ports, onReady: () => ready(), durationSec: 20 });
    const running = source.run((lt, b, start, end, o, ts) => table.pushAt(lt, b, start, end, o, ts));
    await isReady;
    const echoed = await send(srv.port, c2sWrites);
    await srv.received;
    await Promise.race([connectionClosed, new Promise((r) => setTimeout(r, 10_000))]);
    source.stop();
    const summary = await running;
    srv.close();
    table.finish();

    expect(collector.connections).toHaveLength(1);
    const cc = collector.connections[0]!;
    expect(cc.conn.server.port).toBe(srv.port);
    expect(cc.conn.client.addr).toBe('127.0.0.1');
    expect(sha256(data(cc.c2s))).toBe(createHash('sha256').update(Buffer.concat(c2sWrites)).digest('hex'));
    expect(sha256(data(cc.s2c))).toBe(sha256(echoed));
    expect(sha256(echoed)).toBe(sha256(Buffer.concat(s2cWrites)));
    expect(cc.c2s.gaps).toEqual([]);
    expect(cc.s2c.gaps).toEqual([]);
    expect(cc.c2s.end).toBe('fin');
    expect(cc.s2c.end).toBe('fin');
    expect(cc.conn.c2s.synSeen).toBe(true);
    expect(summary.live?.dropped).toBe(0);
    expect(table.stats.truncatedPackets).toBe(0);
  });
});

describe.skipIf(!isRoot)('the capture binding and the garbage collector', () => {
  it('captures opened, closed and collected many times leave the process sound (the async resource is not destroyed inside the GC)', () => {
    // a child with --expose-gc: before patch 3, the first collection of a closed capture crashed (SIGSEGV in EmitDestroy)
    const code = `
      const { LiveCapture, chooseDevice } = require(${JSON.stringify(require.resolve('../../dist/capture/live.js'))});
      const net = require('node:net');
      const dev = chooseDevice();
      for (let i = 0; i < 200; i++) { const c = new LiveCapture({ device: dev, filter: 'tcp port 1' }); c.start(() => {}); c.stop(); if (i % 10 === 0) global.gc(); }
      global.gc();
      let n = 0;
      const srv = net.createServer((s) => s.end()).listen(0, '127.0.0.1', () => {
        const go = () => { if (++n > 50) { srv.close(); console.log('sound'); return; } net.connect(srv.address().port, '127.0.0.1', go).on('error', () => {}); };
        go();
      });`;
    const r = require('node:child_process').spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe('sound');
    expect(r.status).toBe(0);
  });
});
