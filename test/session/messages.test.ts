import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/capture/file-reader';
import { FlowTable } from '../../src/flow/table';
import { loadProtocol } from '../../src/protocol/protocol';
import { MessageDecoder, type Message } from '../../src/session/messages';
import { writeSession } from '../helpers/session';
import { sender } from '../helpers/wire';

const testgame = loadProtocol('testgame');

/** A testgame frame as the server or the client writes it, with the state the session has then. */
function framer(): (name: string, fields: unknown) => Buffer {
  const send = sender(testgame);
  return (name, fields) => send(name === 'set_compression' ? 's2c' : 'c2s', name, fields);
}

describe('messages across an idle eviction', () => {
  it('a connection resumed after 10 idle minutes keeps its protocol state (compression) and message numbering', async () => {
    const frame = framer();
    const file = join(mkdtempSync(join(tmpdir(), 'gs-msg-')), 'idle.pcap');
    const chat = (text: string) => ({ dir: 'c2s' as const, bytes: frame('chat', { text }) });
    writeSession(file, [
      chat('before'),
      { dir: 's2c', bytes: frame('set_compression', { threshold: 4 }) },
      chat('compressed before the pause'),
      { ...chat('compressed after the pause'), pauseUs: 600e6 },
      chat('and again'),
    ]);
    const got: Message[] = [];
    const decoder = new MessageDecoder(testgame, { message: (m) => got.push(m) });
    const table = new FlowTable(decoder, { idleTimeoutUs: 300e6 });
    await readCaptureFile(file, (lt, d, o, ts) => table.push(lt, d, o, ts));
    table.finish();
    expect(table.stats.resumed).toBe(1);
    expect(got.map((m) => [m.flow.id, m.dir, m.index, m.name, m.error?.message, (m.fields as { text?: string } | undefined)?.text])).toEqual([
      [0, 'c2s', 0, 'chat', undefined, 'before'],
      [0, 's2c', 0, 'set_compression', undefined, undefined],
      [0, 'c2s', 1, 'chat', undefined, 'compressed before the pause'],
      [1, 'c2s', 2, 'chat', undefined, 'compressed after the pause'],
      [1, 'c2s', 3, 'chat', undefined, 'and again'],
    ]);
    expect(got.filter((m) => m.compressed).length).toBe(3);
  });
});
