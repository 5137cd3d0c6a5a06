import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main';
import { generateCapture } from './generate';

/**
 * The README's first quick-start step (until the test game and TUI land):
 * make a small game-like loopback capture and reassemble it with
 * `gamesniff streams`.
 */
async function quickstart(): Promise<number> {
  const file = join(mkdtempSync(join(tmpdir(), 'gamesniff-')), 'game-session.pcap');
  const g = generateCapture(file, { sessionBytes: 4 << 20, sessions: 4, shortConnections: 6, seed: 7 });
  process.stderr.write(`made ${file}: ${g.packets} packets, ${g.connections} connections\n`);
  process.stderr.write(`$ gamesniff streams -r ${file} --port 24000\n`);
  return main([process.argv[0]!, 'gamesniff', 'streams', '-r', file, '--port', '24000']);
}

void quickstart().then((code) => {
  process.exitCode = code;
});
