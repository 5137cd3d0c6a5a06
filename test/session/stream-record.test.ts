import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordJson, type StreamRecord } from '../../src/session/stream-summary';

const record: fc.Arbitrary<StreamRecord> = fc
  .record({
    conn: fc.nat(),
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    // a recording's addresses are strings from a file: anything
    client: fc.oneof(fc.constantFrom('127.0.0.1:51000', '[::1]:40000', '10.0.0.2:1'), fc.string({ unit: 'binary' })),
    server: fc.constantFrom('127.0.0.1:24000', '[fe80::1]:443'),
    dir: fc.constantFrom('c2s' as const, 's2c' as const),
    bytes: fc.nat(),
    gaps: fc.nat(),
    gapBytes: fc.nat(),
    overlapConflicts: fc.nat(),
    syn: fc.boolean(),
    end: fc.constantFrom('fin' as const, 'rst' as const, 'timeout' as const, 'open' as const),
    midstream: fc.boolean(),
    retransmittedBytes: fc.nat(),
    resumes: fc.option(fc.nat(), { nil: undefined }),
    sha256: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')), { nil: undefined }),
    packets: fc.nat(),
    duplicates: fc.nat(),
  })
  .map((r) => {
    // as StreamSummary makes them: optional keys absent, not undefined
    const { resumes, sha256, packets, duplicates, ...rest } = r;
    return { ...rest, ...(resumes !== undefined ? { resumes } : {}), ...(sha256 !== undefined ? { sha256 } : {}), packets, duplicates };
  });

describe('recordJson', () => {
  it('is JSON.stringify of the record, key for key', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(recordJson(r)).toBe(JSON.stringify(r));
      }),
      { numRuns: 500 },
    );
  });
});
