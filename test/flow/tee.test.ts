import { describe, expect, it } from 'vitest';
import type { FlowListener } from '../../src/flow/connection';
import { TcpConnection } from '../../src/flow/connection';
import { FlowTee } from '../../src/flow/tee';

describe('FlowTee', () => {
  it('hands every event to each listener; one removed gets nothing more', () => {
    const got: string[] = [];
    const l = (name: string): FlowListener => ({ open: () => void got.push(`${name} open`), data: (_c, d, b) => void got.push(`${name} ${d} ${b.toString()}`), close: () => void got.push(`${name} close`) });
    const a = l('a');
    const b = l('b');
    const tee = new FlowTee([a, b]);
    const c = new TcpConnection(0, 'k', { addr: '127.0.0.1', port: 1 }, { addr: '127.0.0.1', port: 2 }, 'x', 0);
    tee.open(c, 0);
    tee.data(c, 'c2s', Buffer.from('hi'), 0, 0);
    tee.remove(a);
    tee.data(c, 's2c', Buffer.from('yo'), 0, 0);
    tee.remove(a); // twice: nothing else goes
    tee.close(c, 0);
    expect(got).toEqual(['a open', 'b open', 'a c2s hi', 'b c2s hi', 'b s2c yo', 'b close']);
  });
});
