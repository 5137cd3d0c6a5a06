/**
 * The third-party capture corpus (90 captures, INDEX.md): at ../shared/captures next to the
 * repository, or wherever $GAMESNIFF_CAPTURES points. It is not part of a clone: tests that need
 * it skip, saying so in one line, when it is absent (README, "Testing with the capture corpus").
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const candidates = [process.env.GAMESNIFF_CAPTURES, join(__dirname, '../../../shared/captures')].filter((p): p is string => !!p);

/** The corpus folder, or null when there is none. */
export const CORPUS: string | null = candidates.map((p) => resolve(p)).find((p) => existsSync(join(p, 'INDEX.md')) || (existsSync(p) && readdirSync(p).some((f) => /\.pcap/.test(f)))) ?? null;

let said = false;
/** True when the corpus is absent; says so once, in one line, the first time a test asks. */
export function noCorpus(): boolean {
  if (CORPUS) return false;
  if (!said) {
    said = true;
    process.stderr.write('corpus: skipped (no third-party captures at ../shared/captures or $GAMESNIFF_CAPTURES)\n');
  }
  return true;
}

/** A corpus file's path (call only when CORPUS is set). */
export function corpusFile(name: string): string {
  return join(CORPUS!, name);
}

/** The corpus's capture files, or [] without one. */
export function corpusCaptures(): string[] {
  return CORPUS ? readdirSync(CORPUS).filter((f) => /\.(pcap|pcapng)(\.gz)?$/.test(f)).sort() : [];
}
