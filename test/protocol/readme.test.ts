import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileProtocol } from '../../src/protocol/protocol';

// The reference's complete examples (YAML blocks that start with `protocol:`) must compile.
const doc = readFileSync(join(__dirname, '../../protocols/README.md'), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n(protocol:[\s\S]*?)```/g)].map((m) => m[1]);

describe('protocols/README.md examples', () => {
  it('has complete examples', () => expect(blocks.length).toBeGreaterThanOrEqual(2));
  blocks.forEach((text, i) => {
    it(`example ${i + 1} compiles`, () => {
      expect(() => compileProtocol(text, `README example ${i + 1}`)).not.toThrow();
    });
  });
  it('the first example decodes what the text says', () => {
    const p = compileProtocol(blocks[0], 'example');
    const body = p.tcp!.encode('login', { name: 'bob', level: 7 }, p.newState());
    expect(body.toString('hex')).toBe('0203626f620700');
  });
});
