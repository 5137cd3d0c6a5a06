/**
 * Decode throughput: 1,000,000 testgame-like messages (u16 length, u8 id, two f32, u16,
 * length-prefixed string) decoded by gamesniff's compiled decoder, by the npm package
 * binary-parser, and by a hand-written DataView loop, in the same run. Then framing + decoding
 * over the reassembly benchmark's capture.
 */
import { Conversation } from '../conversation/conversation';
import { createFramer } from '../framing/framers';
import { compileProtocol } from '../protocol/protocol';
import { newCtx } from '../protocol/runtime';

export const MOVE_PROTOCOL = `
protocol: benchmove
tcp:
  framing: { length: u16le }
  id: u8
  messages:
    move:
      id: 0x11
      fields:
        x: f32le
        y: f32le
        seq: u16le
        name: { type: string, prefix: u8 }
`;

export function moveMessages(count: number): Buffer {
  const names = ['ann', 'bob', 'player123', 'a-much-longer-name', 'zoë'];
  const bufs: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < count; i++) {
    const name = Buffer.from(names[i % names.length]);
    const m = Buffer.allocUnsafe(2 + 1 + 4 + 4 + 2 + 1 + name.length);
    m.writeUInt16LE(m.length - 2, 0);
    m[2] = 0x11;
    m.writeFloatLE(i * 0.5, 3);
    m.writeFloatLE(-i, 7);
    m.writeUInt16LE(i & 0xffff, 11);
    m[13] = name.length;
    name.copy(m, 14);
    bufs.push(m);
    size += m.length;
  }
  return Buffer.concat(bufs, size);
}

interface Figure {
  name: string;
  seconds: number;
  messages: number;
  bytes: number;
  check: number;
}

/** One way to decode the messages: `runs` timed runs of f. */
interface Candidate {
  name: string;
  runs: number;
  f: () => { messages: number; bytes: number; check: number };
}

/**
 * The best time of each candidate, their runs interleaved (one of each in turn): a machine that
 * is busy for a while slows every candidate alike, so the ratios between them hold.
 */
function bestInterleaved(candidates: Candidate[]): Figure[] {
  const figures: Figure[] = candidates.map((c) => ({ name: c.name, seconds: Infinity, messages: 0, bytes: 0, check: 0 }));
  const rounds = Math.max(...candidates.map((c) => c.runs));
  for (let r = 0; r < rounds; r++) {
    candidates.forEach((c, i) => {
      if (r >= c.runs) return;
      const t0 = process.hrtime.bigint();
      const last = c.f();
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      figures[i] = { ...last, name: c.name, seconds: Math.min(figures[i]!.seconds, s) };
    });
  }
  return figures;
}

export function decodeBench(): Figure[] {
  const N = 1_000_000;
  const buf = moveMessages(N);
  const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
  const t = protocol.tcp!;
  const candidates: Candidate[] = [];

  // 1. The compiled message decoder on each frame (what binary-parser and the loop do too).
  const decodeMove = (t as unknown as { fast: { M: ((b: Buffer, c: ReturnType<typeof newCtx>) => { x: number; seq: number; name: string })[] } }).fast.M[0];
  candidates.push({
    name: 'gamesniff compiled decoder',
    runs: 10,
    f: () => {
      const c = newCtx({}, false);
      let p = 0;
      let check = 0;
      let n = 0;
      while (p < buf.length) {
        const len = buf[p] | (buf[p + 1] << 8);
        c.p = p + 3;
        c.e = p + 2 + len;
        const m = decodeMove(buf, c);
        check += m.seq + m.name.length;
        p += 2 + len;
        n++;
      }
      return { messages: n, bytes: buf.length, check };
    },
  });

  // 2. Dispatch + result: the same loop finding the frames, Transport.decodeAt on each (the id
  // read and dispatched on, the context, the result object): the issue's measure of the path.
  candidates.push({
    name: 'gamesniff Transport.decodeAt',
    runs: 10,
    f: () => {
      const state = protocol.newState();
      let p = 0;
      let check = 0;
      let n = 0;
      while (p < buf.length) {
        const len = buf[p] | (buf[p + 1] << 8);
        const d = t.decodeAt('c2s', buf, p + 2, p + 2 + len, state);
        check += (d.fields!.seq as number) + (d.fields!.name as string).length;
        p += 2 + len;
        n++;
      }
      return { messages: n, bytes: buf.length, check };
    },
  });

  // 2a. The whole path: framer + Transport.decode (dispatch on id, result objects).
  candidates.push({
    name: 'gamesniff framer + Transport.decode',
    runs: 10,
    f: () => {
      let check = 0;
      let n = 0;
      const state = protocol.newState();
      const framer = createFramer(t.spec, {
        frame: (buf, _s, bodyStart, bodyEnd) => {
          const d = t.decodeAt('c2s', buf, bodyStart, bodyEnd, state);
          check += (d.fields!.seq as number) + (d.fields!.name as string).length;
          n++;
        },
        raw: () => {
          throw new Error('raw in the benchmark');
        },
      });
      // Stream-sized chunks, as reassembly delivers them.
      for (let o = 0; o < buf.length; o += 65536) framer.push(buf.subarray(o, o + 65536), o, 0);
      framer.end(0);
      return { messages: n, bytes: buf.length, check };
    },
  });

  // 2b. The same through a conversation (what decode, the UI and replay use): layers, message objects.
  candidates.push({
    name: 'gamesniff conversation',
    runs: 10,
    f: () => {
      let check = 0;
      let n = 0;
      const conv = new Conversation(protocol, 'tcp', (m) => {
        check += (m.fields!.seq as number) + (m.fields!.name as string).length;
        n++;
      }, { flow: null });
      for (let o = 0; o < buf.length; o += 65536) conv.received('c2s', buf.subarray(o, o + 65536), o, 0);
      conv.end('c2s', 0);
      return { messages: n, bytes: buf.length, check };
    },
  });

  // 3. binary-parser (a devDependency: only the benchmark uses it).
  const { Parser } = require('binary-parser') as typeof import('binary-parser');
  const parser = new Parser().endianness('little').uint16('len').uint8('id').floatle('x').floatle('y').uint16('seq').uint8('nlen').string('name', { length: 'nlen', encoding: 'utf8' });
  candidates.push({
    name: 'binary-parser',
    runs: 6,
    f: () => {
      let p = 0;
      let check = 0;
      let n = 0;
      while (p < buf.length) {
        const len = buf[p] | (buf[p + 1] << 8);
        const m = parser.parse(buf.subarray(p, p + 2 + len)) as { seq: number; name: string };
        check += m.seq + m.name.length;
        p += 2 + len;
        n++;
      }
      return { messages: n, bytes: buf.length, check };
    },
  });

  // 4. A hand-written DataView loop: the figure to aim for.
  candidates.push({
    name: 'hand-written DataView loop',
    runs: 10,
    f: () => {
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let p = 0;
      let check = 0;
      let n = 0;
      while (p < buf.length) {
        const len = dv.getUint16(p, true);
        const m = { x: dv.getFloat32(p + 3, true), y: dv.getFloat32(p + 7, true), seq: dv.getUint16(p + 11, true), name: buf.toString('utf8', p + 14, p + 14 + dv.getUint8(p + 13)) };
        check += m.seq + m.name.length;
        p += 2 + len;
        n++;
      }
      return { messages: n, bytes: buf.length, check };
    },
  });
  const figures = bestInterleaved(candidates);
  const checks = new Set(figures.map((f) => f.check));
  if (checks.size !== 1) throw new Error(`decoders disagree: ${figures.map((f) => `${f.name}=${f.check}`).join(', ')}`);
  return figures;
}

/** The reassembly benchmark's messages: u16be length of (id + payload), u8 id 1..40, payload. */
export const CAPTURE_PROTOCOL = `
protocol: benchcapture
tcp:
  framing: { length: u16be }
  id: u8
  messages:
${Array.from({ length: 40 }, (_, i) => `    m${i + 1}: { id: ${i + 1}, fields: { payload: { type: bytes, until: end } } }`).join('\n')}
`;

export function printDecodeFigures(figures: Figure[]): void {
  const loop = figures.find((f) => f.name.startsWith('hand-written'))!;
  const bp = figures.find((f) => f.name === 'binary-parser')!;
  const body = figures.find((f) => f.name === 'gamesniff compiled decoder')!;
  process.stdout.write(`\ndecode: ${figures[0].messages.toLocaleString('en')} messages (u16 length, u8 id, f32, f32, u16, u8-prefixed string), ${(figures[0].bytes / 1e6).toFixed(1)} MB\n`);
  for (const f of figures) {
    const rate = f.messages / f.seconds;
    process.stdout.write(
      `  ${f.name.padEnd(38)} ${(rate / 1e6).toFixed(2)} M msg/s  ${(f.bytes / 1e6 / f.seconds).toFixed(0).padStart(4)} MB/s` +
        `  ${(rate / (loop.messages / loop.seconds)).toFixed(2)}× the DataView loop, ${(rate / (bp.messages / bp.seconds)).toFixed(2)}× binary-parser` +
        (f.name.startsWith('gamesniff') && f !== body ? `, ${(rate / (body.messages / body.seconds)).toFixed(2)}× the compiled decoder alone` : '') +
        '\n',
    );
  }
}

/** Reassembly alone, then reassembly + framing + decoding, over one capture, in this process. */
export async function captureDecodeBench(file: string): Promise<void> {
  const { readCaptureFile } = await import('../capture/file-reader');
  const { FlowTable } = await import('../flow/table');
  const { MessageDecoder } = await import('../session/messages');
  const { statSync } = await import('node:fs');
  const size = statSync(file).size;
  const run = async (withDecode: boolean) => {
    let messages = 0;
    let failed = 0;
    let payload = 0;
    const protocol = compileProtocol(CAPTURE_PROTOCOL, 'benchcapture.yaml');
    const decoder = new MessageDecoder(protocol, {
      message: (m) => {
        messages++;
        if (m.raw || m.error) failed++;
      },
    });
    const counter = { data: (_c: unknown, _d: unknown, chunk: Buffer) => void (payload += chunk.length) };
    const table = new FlowTable(withDecode ? decoder : counter, { serverPorts: new Set([24000]) });
    const t0 = process.hrtime.bigint();
    await readCaptureFile(file, (lt, data, orig, ts) => table.push(lt, data, orig, ts));
    table.finish();
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, messages, failed, payload };
  };
  await run(false); // warm the page cache and the JIT
  const base = await run(false);
  const full = await run(true);
  process.stdout.write(
    `\ncapture ${file} (${(size / 1e6).toFixed(0)} MB), in-process:\n` +
      `  reassembly only                  ${base.seconds.toFixed(2)} s  ${(size / 1e6 / base.seconds).toFixed(0)} MB/s\n` +
      `  reassembly + framing + decoding  ${full.seconds.toFixed(2)} s  ${(size / 1e6 / full.seconds).toFixed(0)} MB/s, ` +
      `${full.messages.toLocaleString('en')} messages (${(full.messages / full.seconds / 1e6).toFixed(2)} M/s), ${full.failed} raw or failed (the generator's short connections and cut-off stream ends)\n`,
  );
}
