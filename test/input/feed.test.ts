import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePorts } from '../../src/capture/ports';
import type { FlowListener } from '../../src/flow/connection';
import { feed } from '../../src/input/feed';
import { closeInput, openInput } from '../../src/input/open';
import { ROOT } from '../helpers/cli';
import { writeSession } from '../helpers/session';

const dir = mkdtempSync(join(tmpdir(), 'gs-feed-'));
const counting = () => {
  const seen = { opens: 0, udp: 0, bytes: 0, ports: new Set<number>() };
  const l: FlowListener = {
    open: (c) => {
      seen.opens++;
      seen.ports.add(c.server.port);
    },
    data: (_c, _d, b) => void (seen.bytes += b.length),
    udpOpen: () => void seen.udp++,
  };
  return { seen, l };
};

describe('feed: one way in for recordings, capture files and live', () => {
  it('a capture file goes through the flow table; the user\'s ports select its packets', async () => {
    const file = join(dir, 'two.pcap');
    writeSession(file, [{ dir: 'c2s', bytes: Buffer.from('hello') }, { dir: 's2c', bytes: Buffer.from('world!') }], { dport: 24000 });
    const input = await openInput(file);
    try {
      const { seen, l } = counting();
      const f = feed(input, l, { serverPorts: parsePorts(['24000']) });
      expect([f.kind, f.name]).toEqual(['file', file]);
      const r = await f.run();
      expect(r.kind).toBe('packets');
      expect(seen).toMatchObject({ opens: 1, bytes: 11 });
      if (r.kind === 'packets') expect(r.table.connections).toBe(1);
    } finally {
      closeInput(input);
    }
    const other = await openInput(file);
    try {
      const { seen, l } = counting();
      await feed(other, l, { serverPorts: parsePorts([]), select: parsePorts(['25000']) }).run();
      expect(seen.opens).toBe(0);
    } finally {
      closeInput(other);
    }
  });

  it('a recording goes through the player; --port selects connections, --filter is refused', async () => {
    const rec = join(ROOT, 'recordings', 'testgame-duo.gsrec');
    const input = await openInput(rec);
    try {
      const { seen, l } = counting();
      const f = feed(input, l, { serverPorts: parsePorts([]), select: parsePorts(['24001']) });
      expect(f.kind).toBe('recording');
      const r = await f.run();
      expect(r.kind).toBe('recording');
      // the session's UDP flows are on 24001, its TCP connections on 24000
      expect(seen).toMatchObject({ opens: 0, udp: 2 });
      expect(() => feed(input, l, { serverPorts: parsePorts([]), filter: 'tcp' })).toThrow(/a recording holds streams, not packets/);
    } finally {
      closeInput(input);
    }
  });
});
