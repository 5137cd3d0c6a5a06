import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli';

/**
 * Data flows one way through the stages (DESIGN.md, README "Layout"): a stage may import its own
 * folder and the stages below it, never one above. The order, lowest first; stages on one line
 * do not import each other.
 */
const LAYERS: string[][] = [
  ['core'],
  ['capture', 'reassembly', 'framing'],
  ['packet', 'transform'],
  ['protocol'],
  ['conversation', 'flow'],
  ['session', 'client'],
  ['recording', 'testbed', 'infer'],
  ['input', 'replay', 'proxy'],
  ['tui'],
  ['cli'],
  ['bench', 'fuzz', 'examples'],
];
const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the import graph', () => {
  it('no stage imports a stage above it, and the library entry point never exports the CLI or the UI', () => {
    const src = join(ROOT, 'src');
    const wrong: string[] = [];
    for (const file of files(src)) {
      const stage = relative(src, file).split('/')[0]!;
      if (stage === 'index.ts') continue;
      const mine = rank.get(stage);
      if (mine === undefined) {
        wrong.push(`${relative(ROOT, file)}: folder src/${stage} has no place in LAYERS (test/architecture.test.ts)`);
        continue;
      }
      for (const m of readFileSync(file, 'utf8').matchAll(/from '\.\.\/(?:\.\.\/)*([a-z-]+)\//g)) {
        const other = m[1]!;
        if (other === stage) continue;
        const theirs = rank.get(other);
        if (theirs === undefined || theirs >= mine) wrong.push(`${relative(ROOT, file)} (${stage}) imports ${other}`);
      }
    }
    expect(wrong).toEqual([]);
    const index = readFileSync(join(src, 'index.ts'), 'utf8');
    expect(index).not.toMatch(/from '\.\/(cli|tui|bench|fuzz)\//);
  });
});

describe('the library entry point', () => {
  it('exports every stage, the conversation, recordings, input and replay, and each export is defined', async () => {
    const lib = (await import('../src/index')) as Record<string, unknown>;
    for (const name of ['FlowTable', 'Conversation', 'transformKind', 'KeyLog', 'MessageDecoder', 'RecordingWriter', 'playRecording', 'feed', 'openInput', 'ReplayEngine', 'runReplay', 'loadScript', 'GameServer']) {
      expect(lib[name], name).toBeDefined();
    }
    expect(Object.entries(lib).filter(([, v]) => v === undefined).map(([k]) => k)).toEqual([]);
  });
});

describe("README's layout", () => {
  it('lists every stage under src/, and nothing that is not there', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /## Layout\n\n```\n([\s\S]*?)```/.exec(readme)![1]!;
    const listed = [...block.matchAll(/^src\/([a-z-]+)\//gm)].map((m) => m[1]!).sort();
    const actual = readdirSync(join(ROOT, 'src')).filter((f) => statSync(join(ROOT, 'src', f)).isDirectory()).sort();
    expect(listed).toEqual(actual);
    // and every stage has a place in the import order
    expect(actual.filter((s) => !rank.has(s))).toEqual([]);
  });
});
