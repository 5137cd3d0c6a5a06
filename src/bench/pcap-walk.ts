import { closeSync, openSync, readSync } from 'node:fs';

/**
 * The Node floor for reading a capture: walks a classic pcap file's record headers, reading
 * 4 MiB at a time, and touches each packet's first byte. Nothing a reassembler could do in Node
 * costs less; the bench gives `streams`' time as a multiple of this. Prints packets and bytes.
 */
const fd = openSync(process.argv[2]!, 'r');
const buf = Buffer.allocUnsafe(4 << 20);
let have = readSync(fd, buf, 0, buf.length, null);
if (have < 24) throw new Error('not a pcap file');
const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d;
let off = 24;
let packets = 0;
let bytes = 0;
let touch = 0;
/** Move the partial record to the front and read on; false at the end of the file. */
function refill(): boolean {
  buf.copy(buf, 0, off, have);
  have -= off;
  off = 0;
  const n = readSync(fd, buf, have, buf.length - have, null);
  have += n;
  return n > 0;
}
for (;;) {
  if (have - off < 16) {
    if (!refill()) break;
    continue;
  }
  const incl = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
  if (have - off < 16 + incl) {
    if (off === 0) throw new Error(`record of ${incl} bytes is larger than the read buffer`);
    if (!refill()) break;
    continue;
  }
  touch ^= buf[off + 16]!;
  packets++;
  bytes += incl;
  off += 16 + incl;
}
closeSync(fd);
process.stdout.write(`${packets} ${bytes} ${touch}\n`);
