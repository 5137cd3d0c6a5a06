import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptureFile } from '../../src/capture/file-reader';
import { FlowTable } from '../../src/flow/table';

/**
 * Every one of the third-party captures is read whole without an exception,
 * and gamesniff counts the same packets as capinfos did (INDEX.md).
 */
import { corpusCaptures, CORPUS, noCorpus } from '../helpers/corpus';

function capinfosCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(join(CORPUS!, 'INDEX.md'), 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length > 7 && /\.(pcap|pcapng)(\.gz)?$/.test(cells[1]!)) counts.set(cells[1]!, Number(cells[6]));
  }
  return counts;
}

describe.skipIf(noCorpus())('the shared captures', () => {
  const files = corpusCaptures();
  const counts = CORPUS ? capinfosCounts() : new Map<string, number>();

  it('are all listed in INDEX.md', () => {
    expect(files.length).toBeGreaterThanOrEqual(89);
    for (const f of files) expect(counts.has(f), f).toBe(true);
  });

  it.each(files)('%s reads whole, with capinfos\' packet count', async (name) => {
    const table = new FlowTable({});
    const stats = await readCaptureFile(join(CORPUS!, name), (lt, d, o, ts) => table.push(lt, d, o, ts));
    table.finish();
    const skipped = Object.values(stats.unsupportedLinkPackets).reduce((a, b) => a + b, 0);
    expect(stats.packets).toBe(counts.get(name));
    expect(table.stats.packets + skipped).toBe(stats.packets);
    expect(stats.truncatedFile).toBeUndefined();
  });
});
