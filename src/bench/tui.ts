/**
 * The TUI's model with a million messages: how long they take to arrive, the heap they hold,
 * and how long drawing a screenful, paging and filtering take (the list is virtual, so drawing
 * should not depend on the count).
 */
import { RecordingPlayer } from '../recording/player';
import { compileProtocol } from '../protocol/protocol';
import { MessageDecoder } from '../session/messages';
import { SessionModel } from '../tui/model/session';
import { renderDetails, renderMessages } from '../tui/render';
import { MOVE_PROTOCOL, moveMessages } from './decode';

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

export function tuiBench(count = 1_000_000): string[] {
  const protocol = compileProtocol(MOVE_PROTOCOL, 'benchmove.yaml');
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const model = new SessionModel(protocol);
  const player = new RecordingPlayer(new MessageDecoder(protocol, model));
  const stream = moveMessages(count);
  let t0 = process.hrtime.bigint();
  player.record({ t: 'open', c: 0, p: 'tcp', ts: 1, client: ['127.0.0.1', 40000], server: ['127.0.0.1', 24000] });
  for (let o = 0; o < stream.length; o += 65536) player.record({ t: 'data', c: 0, d: 0, ts: 2 + o, o, b: stream.subarray(o, o + 65536) });
  const ingest = ms(t0);
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
  const draw = (): number => {
    const t = process.hrtime.bigint();
    renderMessages(model, 100, 40);
    renderDetails(model, 70, 40, null);
    return ms(t);
  };
  const tail = draw();
  model.first();
  const head = draw();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) {
    model.move(39);
    renderMessages(model, 100, 40);
  }
  const page = ms(t0) / 1000;
  t0 = process.hrtime.bigint();
  model.setFilter('move.x > 500 && name ~ "mo"');
  const filter = ms(t0);
  // as the screen runs it: a chunk a tick, the longest step is how long a key may wait
  model.chunk = 100_000;
  model.setFilter('move.x > 100 || name ~ "mo"');
  let worst = 0;
  let steps = 0;
  for (let more = true; more; steps++) {
    t0 = process.hrtime.bigint();
    more = model.work();
    worst = Math.max(worst, ms(t0));
  }
  return [
    `tui model: ${model.messages.length} messages in ${ingest.toFixed(0)} ms (${((model.messages.length / ingest) * 1000 / 1e6).toFixed(2)} M msg/s through framing, decoding and the model), heap ${heapMb.toFixed(0)} MB${global.gc ? '' : ' (approximate: run node with --expose-gc)'} (${(heapMb * 1e6 / model.messages.length).toFixed(0)} B a message; fields kept for the newest 200,000, older ones decoded again from their bytes when asked), peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
    `  draw a 40-row screen: ${tail.toFixed(2)} ms at the tail, ${head.toFixed(2)} ms at the head; page down + draw: ${page.toFixed(3)} ms; filter over all: ${filter.toFixed(0)} ms at once; in ${steps} steps of 100,000 (as the screen runs it) the longest ${worst.toFixed(0)} ms, the most a key waits`,
  ];
}
