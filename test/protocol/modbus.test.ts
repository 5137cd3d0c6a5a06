import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/capture/file-reader';
import { FlowTable } from '../../src/flow/table';
import { loadProtocol } from '../../src/protocol/protocol';
import { runVectorFile } from '../../src/conversation/vectors';
import { MessageDecoder, type Message } from '../../src/session/messages';
import { corpusFile, noCorpus } from '../helpers/corpus';
import { writeSession, type Write } from '../helpers/session';

/**
 * protocols/modbus, a real third-party protocol that needs the length-at-an-offset framing and an
 * id after a head: its vectors, and every ADU of a generated session (ADUs split over segments
 * and merged into one) decoded field by field as tshark's Modbus dissector decodes it.
 */
const p = loadProtocol('modbus');
const t = p.tcp!;
const hasTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;

describe('protocols/modbus', () => {
  for (const r of runVectorFile(p, join(__dirname, '../../protocols/modbus/vectors.yaml'))) it(`vector: ${r.name}`, () => expect(r.problems).toEqual([]));
});

/** One ADU as the client or server writes it. */
function adu(tid: number, dir: 'c2s' | 's2c', name: string, fields: Record<string, unknown>, id?: number): Buffer {
  return t.frame(t.encode(name, fields, p.newState(), { dir, head: { transaction: tid, protocol: 0, length: 0, unit: 0x11 }, id }));
}

const PAIRS: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ['read_coils', { start: 19, quantity: 19 }, { byte_count: 3, coils: Buffer.from('cd6b05', 'hex') }],
  ['read_discrete_inputs', { start: 196, quantity: 22 }, { byte_count: 3, inputs: Buffer.from('acdb35', 'hex') }],
  ['read_holding_registers', { start: 107, quantity: 3 }, { byte_count: 6, registers: [555, 0, 100] }],
  ['read_input_registers', { start: 8, quantity: 1 }, { byte_count: 2, registers: [10] }],
  ['write_single_coil', { address: 172, value: 'on' }, { address: 172, value: 'on' }],
  ['write_single_register', { address: 1, value: 3 }, { address: 1, value: 3 }],
  ['write_multiple_coils', { start: 19, quantity: 10, byte_count: 2, coils: Buffer.from('cd01', 'hex') }, { start: 19, quantity: 10 }],
  ['write_multiple_registers', { start: 1, quantity: 2, byte_count: 4, registers: [10, 258] }, { start: 1, quantity: 2 }],
];

/** What tshark and we both say about each ADU, in stream order per direction. */
interface Row {
  dir: string;
  tid: number;
  unit: number;
  fc: number;
  ref: string;
  count: string;
  bytes: string;
  regs: string;
  /** tshark's raw data: the value of a single write (hex). */
  data: string;
  exc: string;
}

/** Our view: each decoded message as a Row (tshark's field names in mind). */
function ours(m: Message): Row {
  const f = (m.fields ?? {}) as Record<string, unknown>;
  const h = m.head as { transaction: number; unit: number };
  const name = m.name!;
  const isResp = m.dir === 's2c';
  const ref = f.start ?? f.address;
  // tshark shows a count for requests and multi-write responses (bit or word count)
  const count = f.quantity;
  const regs = Array.isArray(f.registers) ? (f.registers as number[]).join(',') : '';
  const single = name === 'write_single_register' ? (f.value as number) : name === 'write_single_coil' ? (f.value === 'on' ? 0xff00 : 0) : undefined;
  return {
    dir: m.dir,
    tid: h.transaction,
    unit: h.unit,
    fc: m.id!,
    ref: ref === undefined ? '' : String(ref),
    count: count === undefined ? '' : String(count),
    bytes: f.byte_count === undefined ? '' : String(f.byte_count),
    regs: isResp || name.includes('write') ? regs : '',
    data: single !== undefined ? single.toString(16).padStart(4, '0') : name === 'write_multiple_coils' && !isResp ? (f.coils as Buffer).toString('hex') : '',
    exc: name === 'exception' ? String({ illegal_function: 1, illegal_data_address: 2, illegal_data_value: 3, server_device_failure: 4 }[f.code as string] ?? f.code) : '',
  };
}

async function decodeFile(file: string): Promise<Message[]> {
  const got: Message[] = [];
  const table = new FlowTable(new MessageDecoder(p, { message: (m) => got.push(m) }), { serverPorts: new Set([502]) });
  await readCaptureFile(file, (lt, d, o, ts) => table.push(lt, d, o, ts));
  table.finish();
  return got;
}

/** tshark's view: one Row per Modbus PDU (a frame can carry several), in frame order. */
function tsharkRows(file: string): Row[] {
  const out = execFileSync('tshark', ['-r', file, '-Y', 'mbtcp', '-T', 'json', '-e', 'tcp.srcport', '-e', 'mbtcp.trans_id', '-e', 'mbtcp.unit_id', '-e', 'modbus.func_code', '-e', 'modbus.reference_num', '-e', 'modbus.word_cnt', '-e', 'modbus.bit_cnt', '-e', 'modbus.byte_cnt', '-e', 'modbus.regval_uint16', '-e', 'modbus.data', '-e', 'modbus.exception_code'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rows: Row[] = [];
  for (const pkt of JSON.parse(out) as { _source: { layers: Record<string, string[]> } }[]) {
    const l = pkt._source.layers;
    const tids = l['mbtcp.trans_id'] ?? [];
    // several PDUs in one frame: each field lists one value per PDU that has it
    if (tids.length !== 1) throw new Error(`frame with ${tids.length} PDUs: give each its own frame in the generated capture`);
    const fc = Number(l['modbus.func_code']![0]);
    const exc = l['modbus.exception_code']?.[0] ?? '';
    rows.push({
      dir: l['tcp.srcport']![0] === '502' ? 's2c' : 'c2s',
      tid: Number(tids[0]),
      unit: Number(l['mbtcp.unit_id']![0]),
      fc: exc ? fc | 0x80 : fc,
      ref: l['modbus.reference_num']?.[0] ?? '',
      count: l['modbus.word_cnt']?.[0] ?? l['modbus.bit_cnt']?.[0] ?? '',
      bytes: l['modbus.byte_cnt']?.[0] ?? '',
      regs: (l['modbus.regval_uint16'] ?? []).join(','),
      data: (l['modbus.data']?.[0] ?? '').replace(/:/g, ''),
      exc,
    });
  }
  return rows;
}

describe.skipIf(!hasTshark)('protocols/modbus against tshark\'s Modbus/TCP dissector', () => {
  it('every ADU of a session, split over segments and merged in writes, decodes to what tshark decodes', async () => {
    const writes: Write[] = [];
    PAIRS.forEach(([name, req, resp], i) => {
      const tid = i + 1;
      // odd pairs: each ADU split over two segments (tshark needs the first 8 bytes in one)
      writes.push({ dir: 'c2s', bytes: adu(tid, 'c2s', name, req), mss: i % 2 ? 8 : 1400 });
      writes.push({ dir: 's2c', bytes: adu(tid, 's2c', name, resp), mss: i % 2 ? 8 : 1400 });
    });
    // an exception, and two requests in one write whose answers come in one write too (merged)
    writes.push({ dir: 'c2s', bytes: adu(9, 'c2s', 'read_input_registers', { start: 9999, quantity: 1 }) });
    writes.push({ dir: 's2c', bytes: adu(9, 's2c', 'exception', { code: 'illegal_data_address' }, 0x84) });
    const dir = mkdtempSync(join(tmpdir(), 'gs-modbus-'));
    const file = join(dir, 'modbus.pcap');
    writeSession(file, writes, { dport: 502 });
    const merged = join(dir, 'merged.pcap');
    writeSession(merged, [
      { dir: 'c2s', bytes: Buffer.concat([adu(10, 'c2s', 'read_coils', { start: 0, quantity: 8 }), adu(11, 'c2s', 'write_single_register', { address: 4, value: 7 })]) },
      { dir: 's2c', bytes: Buffer.concat([adu(10, 's2c', 'read_coils', { byte_count: 1, coils: Buffer.from([0x55]) }), adu(11, 's2c', 'write_single_register', { address: 4, value: 7 })]) },
    ], { dport: 502 });
    const mine = await decodeFile(file);
    expect(mine.filter((m) => m.error || m.raw)).toEqual([]);
    expect(mine).toHaveLength(18);
    expect(mine.map(ours)).toEqual(tsharkRows(file));
    // merged: tshark gives one frame for both PDUs, so only our side is checked field by field
    const both = await decodeFile(merged);
    expect(both.map((m) => `${m.dir} ${m.name} ${(m.head as { transaction: number }).transaction}`)).toEqual(['c2s read_coils 10', 'c2s write_single_register 11', 's2c read_coils 10', 's2c write_single_register 11']);
    expect(both.every((m) => !m.error && !m.raw)).toBe(true);
  });

  it.skipIf(noCorpus() || !existsSync(corpusFile('ndpi__modbus.pcap')))('ndpi__modbus.pcap (third-party) decodes whole, as tshark decodes it', async () => {
    const file = corpusFile('ndpi__modbus.pcap');
    const mine = await decodeFile(file);
    expect(mine.filter((m) => m.error || m.raw)).toEqual([]);
    expect(mine.length).toBeGreaterThan(50);
    expect(mine.map(ours)).toEqual(tsharkRows(file));
  });
});
