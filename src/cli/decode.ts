import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Command } from 'commander';
import { GamesniffError } from '../core/errors';
import { feed, type FeedResult } from '../input/feed';
import { closeInput, openInput, type Input } from '../input/open';
import { ProtocolError } from '../protocol/load';
import { findProtocolByName, loadProtocol, resolveProtocolPath, type Protocol } from '../protocol/protocol';
import { Coverage } from '../session/coverage';
import { clockTime, DEFAULT_LIMITS, FULL, messageDetail, messageLabel, type OutputLimits } from '../session/format';
import { MessageJsonWriter } from '../session/json-line';
import { MessageDecoder, type Message } from '../session/messages';
import { ParquetSink, parquetLayout, type ParquetResult } from '../session/parquet';
import { capped } from './check';
import { captureOptions, feedOptions, openCliInput, resultLines, runInput, type CaptureCliOptions } from './common';
import { DecodeTally } from './decode-watch';
import { keylogOption, keysFromLog } from './keylog-option';
import { LineWriter, print, say } from './output';
import { portsWithDefault, protocolForInput } from './protocol-option';
import { runHeader, watchFiles } from './watch';

interface DecodeOptions extends CaptureCliOptions {
  protocol?: string;
  keylog?: string;
  json?: boolean;
  stats?: boolean;
  quiet?: boolean;
  spans?: boolean;
  full?: boolean;
  watch?: boolean;
  allMessages?: boolean;
  parquet?: string;
}

/** A message as a text line: time, [its number] when given, connection, direction, label, fields. */
export function messageText(m: Message, n?: number): string {
  const arrow = m.dir === 'c2s' ? '->' : '<-';
  return `${clockTime(m.ts)}${n === undefined ? '' : ` [${n}]`} #${m.flow.id}${m.transport === 'udp' ? 'u' : ''} ${arrow} ${messageLabel(m)} ${messageDetail(m)}`;
}

/**
 * How decode prints a message, numbered `n` (from 0, in the order printed: what `vectors add
 * --message` takes): a JSON line MessageJsonWriter writes into the LineWriter's block (terminal-safe
 * as it comes: nothing scans it again), or a text line (escaped by the LineWriter).
 */
function messagePrinter(o: DecodeOptions, protocol: Protocol, limits: OutputLimits, lines: LineWriter): (m: Message, n: number) => void {
  if (!o.json) return (m, n) => lines.line(messageText(m, n));
  const json = new MessageJsonWriter(protocol, o.spans, limits);
  return (m, n) => {
    json.write(m, n, lines.block);
    lines.block.endLine();
  };
}

/**
 * Decode a file (a capture or a recording) with `protocol`, quietly: every message to `each` with
 * its number, as decode numbers them (from 0, in the order it prints them; the same ports and
 * keys give the same numbers), and the decoder (its state after the message). `each` returning
 * false stops the read there; so does `signal`.
 */
export async function decodeFile(o: CaptureCliOptions & { keylog?: string }, protocol: Protocol, input: Input, each: (m: Message, n: number, decoder: MessageDecoder) => boolean | void, signal?: AbortSignal): Promise<FeedResult> {
  let n = 0;
  let done = false;
  const stop = (): void => {
    done = true;
    f.stop();
  };
  const decoder = new MessageDecoder(protocol, {
    message: (m) => {
      if (done) return;
      if (each(m, n++, decoder) === false) stop();
    },
  }, { keys: keysFromLog(o.keylog) });
  const f = feed(input, decoder, feedOptions(o, portsWithDefault(o.port, protocol)));
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    return await f.run();
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

export function decodeCommand(): Command {
  const cmd = new Command('decode')
    .description('decode messages with a protocol description, one per line; exit 1 when any message did not decode')
    .option('-p, --protocol <protocol>', 'a protocol.yaml, its directory, or a name under protocols/ (default for a recording: the description it holds)')
    .option('--json', 'one JSON object a line: ts, conn, client, server, dir, name, id, size, fields (error and hex when it failed)')
    .option('--stats', 'end with a coverage report on stderr: messages per name, unknown ids, undecoded bytes, errors by field path')
    .option('-q, --quiet', 'print no messages, only the summary (and the coverage report with --stats): decoding alone, for checking a description against a capture or timing the decode')
    .option('--spans', 'with --json: the byte span of every field')
    .option('--full', 'with --json: every byte, character and element (by default bytes and hex stop at 4 KiB, strings at 64 Ki characters, arrays at 100,000 elements, saying how much more there was)')
    .option('--watch', 'with -r: decode again on every save of the protocol file (or of FILE), saying what changed: a line of figures, then messages now named, errors fixed and introduced; Ctrl-C ends it')
    .option('--all-messages', 'with --watch: print every message on each run too (default: only what changed)')
    .option('--parquet <out>', 'write the messages to Parquet instead of printing them: one row per message, a column per field path (NAME.PATH); OUT.parquet is one file, OUT/ (or an existing directory) is partitioned by protocol and date');
  for (const o of captureOptions()) cmd.addOption(o);
  cmd.addOption(keylogOption());
  cmd.action(async (o: DecodeOptions) => {
    if (o.spans && !o.json) throw new GamesniffError('USAGE', '--spans adds the byte spans to the JSON output: give --json too');
    if (o.full && !o.json) throw new GamesniffError('USAGE', '--full lifts the size limits of the JSON output: give --json too (text lines always show a short preview)');
    if (o.quiet && (o.json || o.parquet !== undefined || o.watch)) throw new GamesniffError('USAGE', `--quiet prints no messages: it does not go with ${o.json ? '--json' : o.parquet !== undefined ? '--parquet' : '--watch (which prints only summaries already)'}`);
    if (o.allMessages && !o.watch) throw new GamesniffError('USAGE', '--all-messages is for --watch (decode alone prints every message)');
    if (o.parquet !== undefined) {
      const clash = o.json ? '--json' : o.watch ? '--watch' : null;
      if (clash) throw new GamesniffError('USAGE', `--parquet writes the messages to a file instead of printing them: it does not go with ${clash}`);
      if (!o.parquet) throw new GamesniffError('USAGE', '--parquet needs OUT: a .parquet file, or a directory (ending with /) to partition by protocol and date');
    }
    if (o.watch) return decodeWatch(o);
    const input = await openCliInput(o);
    // A regular file is a bounded job: V8's own heap growing (main.ts holds every command to 1.5x,
    // for runs without end, as live capture or a pipe from tcpdump -w - may be). On a 278 MB
    // capture, --json took 0.8x the CPU for 1.1x the RSS (190 MB).
    if (o.read && isRegularFile(o.read)) setFlagsFromString('--heap-growing-percent=0');
    let sink: ParquetSink | null = null;
    try {
      const protocol = protocolForInput(o.protocol, input);
      if (!protocol) throw new GamesniffError('USAGE', 'decode needs -p PROTOCOL (only a recording made with -p names its own)');
      const ports = portsWithDefault(o.port, protocol);
      const lines = new LineWriter(65536, !!o.json); // live: written after each batch of packets (runInput)
      const coverage = new Coverage();
      const limits = o.full ? FULL : DEFAULT_LIMITS;
      const printMessage = messagePrinter(o, protocol, limits, lines);
      let n = 0;
      if (o.parquet) {
        const session = input ? input.name : `live-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
        sink = await ParquetSink.open({ out: o.parquet, layout: parquetLayout(o.parquet), session, protocol: protocol.name, flushMs: input ? 0 : 5000 });
      }
      const parquet = sink;
      const decoder = new MessageDecoder(protocol, {
        message: parquet
          ? (m) => {
              coverage.add(m);
              parquet.message(m);
            }
          : o.quiet
            ? (m) => coverage.add(m)
            : (m) => {
                coverage.add(m);
                printMessage(m, n++);
              },
      }, { spans: !!o.spans, keys: keysFromLog(o.keylog) });
      await runInput(o, ports, decoder, lines, input);
      if (parquet) {
        sink = null;
        say(parquetSummary(await parquet.close(), o.parquet!));
      }
      if (o.stats) for (const line of coverage.report()) say(line);
      if (coverage.failed > 0) throw new GamesniffError('FAILED', `${coverage.failed} of ${coverage.messages} messages did not decode${o.stats ? '' : ' (--stats for details)'}`, 1);
    } finally {
      // an error before the end: what was written so far is left as it is (no half file under OUT's name)
      await sink?.close().catch(() => undefined);
      closeInput(input);
    }
  });
  return cmd;
}

/** What --parquet wrote, in one line. */
export function parquetSummary(r: ParquetResult, out: string): string {
  const mb = (r.bytes / 1e6).toFixed(r.bytes < 1e6 ? 3 : 1);
  const where = r.files.length === 1 && r.files[0] === out ? out : `${r.files.length} files under ${out}`;
  return `parquet: ${r.rows} messages, ${r.columns} columns, ${mb} MB in ${where}${r.replaced ? ` (replacing ${r.replaced} files of an earlier run of this session)` : ''}`;
}

/**
 * decode --watch: the file decoded again on each save of the protocol file or of the file; the
 * first run says its figures and the coverage report, each later one its figures and what
 * changed since the run before (the last that decoded: a protocol file broken mid-edit says its
 * error and the watch goes on).
 */
async function decodeWatch(o: DecodeOptions): Promise<void> {
  if (!o.read) throw new GamesniffError('USAGE', '--watch decodes a file again on every save: give -r FILE (a live capture cannot be read twice)');
  if (o.read === '-') throw new GamesniffError('USAGE', '--watch reads FILE again on every save: standard input cannot be');
  if (o.json && !o.allMessages) throw new GamesniffError('USAGE', '--watch prints summaries as text: --json goes with --all-messages (every message as JSON on each run)');
  const first = await openCliInput(o);
  let spec = o.protocol;
  try {
    if (!spec) {
      const name = first?.kind === 'recording' ? first.recording.header.protocol?.name : undefined;
      const file = name ? findProtocolByName(name) : null;
      if (!file) throw new GamesniffError('USAGE', `decode --watch needs -p PROTOCOL: the description to watch${name ? ` (${first!.name} was recorded with ${name}, not under protocols/)` : ''}`);
      say(`decoding with ${file}, the description ${first!.name} was recorded with, as it is saved`);
      spec = file;
    }
  } finally {
    closeInput(first);
  }
  let file: string;
  try {
    file = resolveProtocolPath(spec);
  } catch (e) {
    throw new GamesniffError('PROTOCOL', (e as Error).message);
  }
  const inputFile = resolve(o.read);
  const limits = o.full ? FULL : DEFAULT_LIMITS;
  let prev: DecodeTally | null = null;
  await watchFiles({
    files: [file, inputFile],
    run: async (r) => {
      const head = r.run ? [runHeader(r)] : [];
      let protocol: Protocol;
      try {
        protocol = loadProtocol(file);
      } catch (e) {
        const problems = e instanceof ProtocolError ? e.problems : [(e as Error).message];
        print([...head, `protocol error (still watching): ${file} does not compile:`, ...capped(problems)].join('\n'));
        return;
      }
      const input = await openInput(o.read!);
      try {
        const tally = new DecodeTally();
        const coverage = new Coverage();
        const lines = o.allMessages ? new LineWriter(65536, !!o.json) : null;
        if (lines && head.length) print(head.join('\n'));
        const printMessage = lines ? messagePrinter(o, protocol, limits, lines) : null;
        const result = await decodeFile(o, protocol, input, (m, n) => {
          tally.add(m);
          coverage.add(m);
          printMessage?.(m, n);
        }, r.signal);
        lines?.flush();
        if (r.signal.aborted) return;
        if (r.run === 0 || r.changed.includes(inputFile)) for (const line of resultLines(input.name, result)) say(line);
        const out = lines ? [] : [...head];
        out.push(tally.summary(prev));
        if (!prev) out.push(...coverage.report().slice(1));
        else {
          out.push(...tally.changes(prev));
          if (o.stats) out.push(...coverage.report());
        }
        print(out.join('\n'));
        prev = tally;
      } finally {
        closeInput(input);
      }
    },
  });
}

/** Whether `path` is a regular file (not standard input, a pipe or a device). */
function isRegularFile(path: string): boolean {
  if (path === '-') return false;
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
