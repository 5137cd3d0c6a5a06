import { readCaptureFile } from '../capture/file-reader';
import { FlowTable } from '../flow/table';
import { StreamSummary } from '../session/stream-summary';

/**
 * Run with --expose-gc: reassembles a capture as `gamesniff streams` does and
 * prints, as JSON, the largest live heap (after a full GC every 10,000
 * packets) and the largest number of connections open at once.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const collect = gc;
let records = 0;
const table = new FlowTable(new StreamSummary(() => records++), {});
let n = 0;
let maxHeap = 0;
let maxOpen = 0;
void readCaptureFile(process.argv[2]!, (lt, d, o, ts) => {
  table.push(lt, d, o, ts);
  if (++n % 10_000 === 0) {
    collect();
    maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    maxOpen = Math.max(maxOpen, table.size);
  }
}).then(() => {
  table.finish();
  process.stdout.write(JSON.stringify({ packets: n, records, maxHeapMb: maxHeap / 1e6, maxOpen }) + '\n');
});
