process.env.TZ = 'UTC';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileProtocol, loadProtocol } from '../../src/protocol/protocol';
import { TcpConnection } from '../../src/flow/connection';
import { playRecording } from '../../src/recording/player';
import { MessageDecoder } from '../../src/session/messages';
import { commandFor, KEYMAP } from '../../src/tui/model/keymap';
import { SessionModel } from '../../src/tui/model/session';
import { fieldLines, fit, hexDump, inspectorLines, renderConnections, renderDetails, renderHelp, renderMessages, renderStatus, wrapLine } from '../../src/tui/render';
import { ROOT } from '../helpers/cli';
import { parse } from 'yaml';
import { runVector, type Vector } from '../../src/conversation/vectors';

const tg = loadProtocol('testgame', ROOT);

async function loaded(file = 'testgame-duo.gsrec', keepBytes?: number): Promise<SessionModel> {
  const model = new SessionModel(tg, { keepBytes });
  await playRecording(join(ROOT, 'recordings', file), new MessageDecoder(tg, model));
  return model;
}

describe('TUI model', () => {
  it('holds every message and connection of a session, following the tail', async () => {
    const m = await loaded();
    // the count of testgame-duo.gsrec (npm run samples makes it anew when the protocol changes)
    expect(m.messages.length).toBe(192);
    expect(m.view.length).toBe(192);
    expect(m.follow).toBe(true);
    expect(m.selected).toBe(191);
    const conns = [...m.connections.values()];
    expect(conns.map((c) => `${c.transport} ${c.state}`)).toEqual(['tcp closed', 'tcp closed', 'udp closed', 'udp closed']);
    expect(conns[0]!.messages[0] + conns[0]!.messages[1]).toBeGreaterThan(40);
  });

  it('filters by name, direction, connection and field values with the protocol grammar', async () => {
    const m = await loaded();
    const names = () => new Set(m.view.map((i) => m.messages.at(i)!.name));
    expect(m.setFilter('chat')).toBe(true);
    expect(names()).toEqual(new Set(['chat']));
    m.setFilter('chat_msg.text ~ "ROUND 3 FROM ann"');
    expect(m.view.length).toBe(2); // relayed to both players
    m.setFilter('snapshot.entities.length > 5');
    expect(m.view.every((i) => (m.messages.at(i)!.fields as { entities: unknown[] }).entities.length > 5)).toBe(true);
    expect(m.view.length).toBeGreaterThan(0);
    m.setFilter('dir == "c2s" && transport == "udp"');
    expect(names()).toEqual(new Set(['position']));
    m.setFilter('conn == 1 && name == "bye"');
    expect(m.view.map((i) => m.messages.at(i)!.flow.id)).toEqual([1, 1]);
  });

  it('a bad filter keeps the old one and says where it broke', async () => {
    const m = await loaded();
    m.setFilter('chat');
    expect(m.setFilter('chat.text ~ ')).toBe(false);
    expect(m.filterError).toMatch(/^filter: .* at column \d+$/);
    expect(m.filter?.text).toBe('chat');
    m.setFilter('');
    expect(m.filter).toBeNull();
    expect(m.view.length).toBe(m.messages.length);
  });

  it('moving up stops following; last() follows again; the selection survives a filter change', async () => {
    const m = await loaded();
    m.move(-5);
    expect(m.follow).toBe(false);
    const picked = m.selectedMessage()!;
    m.setFilter(`name == "${picked.name}"`);
    expect(m.selectedMessage()).toBe(picked);
    m.last();
    expect(m.follow).toBe(true);
    m.setFilter('');
    m.first();
    expect(m.selected).toBe(0);
    expect(m.scrollTo(10)).toBe(0);
    m.move(25);
    expect(m.scrollTo(10)).toBe(16);
  });

  it('paused, new messages are kept but not shown until resumed', async () => {
    const m = await loaded('echo.gsrec');
    const before = m.view.length;
    m.togglePause();
    const model2 = m;
    const first = m.messages.at(0)!;
    const extra = Object.assign(Object.create(Object.getPrototypeOf(first) as object) as typeof first, first);
    model2.message(extra);
    expect(m.view.length).toBe(before);
    expect(m.messages.length).toBe(before + 1);
    m.togglePause();
    expect(m.view.length).toBe(before + 1);
  });

  it('bounded memory: old messages keep their bytes, and their fields are decoded again when asked', async () => {
    const full = await loaded('testgame-solo.gsrec');
    const m = await loaded('testgame-solo.gsrec', 10);
    expect(tg.fieldsReadState).toBe(false);
    expect(m.messages.filter((x) => m.bytesDropped(x))).toEqual([]);
    // the decoded fields of all but the newest 10 are gone from memory...
    const held = m.messages.filter((x) => (x as unknown as { fl?: unknown }).fl !== undefined);
    expect(held.length).toBe(10);
    expect(held[0]).toBe(m.messages.at(m.messages.length - 10));
    // ...and come back the same, compressed ones too; so do the bytes and what a filter sees
    expect(m.messages.some((x, i) => i < m.messages.length - 10 && x.compressed)).toBe(true);
    m.messages.forEach((x, i) => {
      expect(x.fields, `message ${i}`).toEqual(full.messages.at(i)!.fields);
      expect(x.payload.equals(full.messages.at(i)!.payload)).toBe(true);
      expect(x.wire.equals(full.messages.at(i)!.wire)).toBe(true);
    });
    expect(m.setFilter('snapshot.tick < 3')).toBe(true);
    expect(m.view).toEqual((full.setFilter('snapshot.tick < 3'), full.view));
    expect(m.view.length).toBeGreaterThan(0);
    m.first();
    expect(renderDetails(m, 70, 20, null).join('\n')).toBe(renderDetails((full.first(), full), 70, 20, null).join('\n'));
  });

  it('bounded memory: when fields read the state, old messages keep their fields (copied) and read their bytes back from the spill', async () => {
    const yaml = ['protocol: stateful', 'state:', '  width: 2', 'tcp:', '  ports: [24000]', '  framing: { length: u16le }', '  id: u8', '  messages:', '    blob:', '      id: 1', '      fields:', '        data: { type: bytes, length: width }', ''].join('\n');
    const p = compileProtocol(yaml, 'stateful.yaml');
    expect(p.fieldsReadState).toBe(true);
    const m = new SessionModel(p, { keepBytes: 3 });
    const dec = new MessageDecoder(p, m);
    const flow = new TcpConnection(0, 'k', { addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: 24000 }, 'x', 0);
    dec.open(flow, 1);
    const frame = (i: number): Buffer => Buffer.from([3, 0, 1, i, i + 1]);
    dec.data(flow, 'c2s', Buffer.concat([0, 1, 2, 3, 4, 5].map(frame)), 0, 2);
    expect(m.messages.length).toBe(6);
    expect(m.messages.filter((x) => m.bytesDropped(x)).length).toBe(0);
    expect(m.messages.at(0)!.fields).toEqual({ data: Buffer.from([0, 1]) });
    expect(m.messages.at(0)!.wire).toEqual(frame(0));
    m.first();
    expect(renderDetails(m, 70, 20, null).join('\n')).not.toContain('bytes dropped');
  });

  it('enter on a connection shows that connection only', async () => {
    const m = await loaded();
    m.nextPane();
    m.nextPane();
    expect(m.pane).toBe('connections');
    m.move(m.connectionList().findIndex((c) => c.transport === 'udp'));
    m.filterSelectedConnection();
    expect(m.pane).toBe('messages');
    expect(new Set(m.view.map((i) => m.messages.at(i)!.name))).toEqual(new Set(['position', 'positions']));
  });

  it('keys are data: every binding resolves, no key is bound twice', () => {
    const keys = KEYMAP.flatMap((b) => b.keys);
    expect(new Set(keys).size).toBe(keys.length);
    for (const b of KEYMAP) for (const k of b.keys) expect(commandFor(k)).toBe(b.command);
    expect(commandFor('z')).toBeUndefined();
  });
});

describe('TUI renderers', () => {
  it('message list, connections, status and help', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.first();
    expect(renderMessages(m, 90, 8)).toMatchSnapshot();
    expect(renderConnections(m, 120, 4)).toMatchSnapshot();
    m.figures = { source: 'lo (port 24000)', packets: 120, bytes: 9000, drops: 0, recording: { file: 'recordings/x.gsrec', bytes: 1234 }, live: true };
    m.setFilter('snapshot');
    expect(renderStatus(m, 'testgame')).toMatchSnapshot();
    expect(renderHelp().length).toBe(KEYMAP.length + 4);
  });

  it('details: the field tree and a hex dump with the selected field highlighted', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.setFilter('login_ok');
    m.pane = 'details';
    m.fieldSelected = 2; // login_ok.token
    const lines = renderDetails(m, 80, 24, null);
    expect(lines).toMatchSnapshot();
    const token = (m.selectedMessage()!.fields as { token: Buffer }).token.toString('hex');
    // The 16 token bytes are the inverse ones.
    const inv = lines.join('\n').match(/\{inverse\}([0-9a-f]{2})\{\/inverse\}/g)!.map((x) => x.slice(9, 11)).join('');
    expect(inv).toBe(token);
  });

  it('escapes braces from the traffic, so a message cannot inject screen tags', () => {
    const lines = fieldLines('chat', { text: '{red-fg}boom{/red-fg}' });
    expect(lines[1]!.text).toContain('{red-fg}');
    const rendered = hexDump(Buffer.from('{x}'), -1, -1, 1);
    expect(rendered[0]).toContain('{open}x{close}');
  });
});

describe('the filter line and names used both ways', () => {
  it('s2c.chat.text matches only the server\'s chat; chat.text either', async () => {
    const { compileFilter } = await import('../../src/tui/model/filter');
    const msg = (dir: 'c2s' | 's2c', text: string) => ({ dir, name: 'chat', fields: { text }, flow: { id: 0 } }) as never;
    const one = compileFilter('s2c.chat.text ~ "hi"')!;
    expect([one.test(msg('c2s', 'hi')), one.test(msg('s2c', 'hi'))]).toEqual([false, true]);
    const both = compileFilter('chat.text ~ "hi"')!;
    expect([both.test(msg('c2s', 'hi')), both.test(msg('s2c', 'hi'))]).toEqual([true, true]);
  });
});

describe('TUI model: the faults a first session found', () => {
  it('a filter with a name that is neither a message nor a filter name is an error at its column; id and hex filter', async () => {
    const m = await loaded('testgame-solo.gsrec');
    expect(m.setFilter('nosuchmsg.x > 1')).toBe(false);
    expect(m.filterError).toMatch(/unknown name 'nosuchmsg': not a message.* at column 1/);
    expect(m.setFilter('tcp')).toBe(false);
    expect(m.filterError).toMatch(/for the transport: transport == "tcp"/);
    expect(m.setFilter('size > 3 && s2c.nope')).toBe(false);
    expect(m.filterError).toMatch(/s2c\.nope: no message is named nope at column 16/);
    expect(m.setFilter('id == 0x10')).toBe(true);
    expect(m.view.length).toBeGreaterThan(0);
    expect(m.view.every((i) => m.messages.at(i)!.id === 0x10)).toBe(true);
    const some = m.messages.find((x) => x.name === 'chat')!;
    const hex = some.wire.toString('hex').slice(2, 10);
    expect(m.setFilter(`hex ~ "${hex}"`)).toBe(true);
    expect(m.view.map((i) => m.messages.at(i))).toContain(some);
  });

  it('inspecting a message stops follow: the details pane keeps what it shows', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.last();
    expect(m.follow).toBe(true);
    m.nextPane();
    expect(m.pane).toBe('details');
    expect(m.follow).toBe(false);
  });
});

describe('TUI model: the analyst tools', () => {
  it('search by text and hex bytes across the view, n/N both ways, wrapping', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.first();
    const chats = m.view.filter((i) => m.messages.at(i)!.name === 'chat');
    expect(chats.length).toBeGreaterThan(1);
    expect(m.find('CHAT', 1)).toMatch(/^found "CHAT" at \[\d+\]$/);
    expect(m.messages.at(m.view.at(m.selected)!)!.name).toMatch(/chat/);
    const first = m.view.at(m.selected)!;
    m.find(null, 1);
    expect(m.view.at(m.selected)!).toBeGreaterThan(first);
    m.find(null, -1);
    expect(m.view.at(m.selected)!).toBe(first);
    const target = m.messages.at(m.view.at(5)!)!;
    const hex = target.wire.toString('hex').slice(0, 12).replace(/(..)/g, '$1 ');
    m.first();
    expect(m.find(hex, 1)).toMatch(/found/);
    expect(m.messages.at(m.view.at(m.selected)!)!.wire.toString('hex')).toContain(hex.replace(/ /g, ''));
    expect(m.find('no such thing anywhere', 1)).toMatch(/is in no message of the view/);
  });

  it('marks, jumping between them, and a diff with the nearest marked message of the same name', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const snaps = m.view.map((i, vi) => [i, vi] as const).filter(([i]) => m.messages.at(i)!.name === 'snapshot');
    m.selected = snaps[0]![1];
    expect(m.toggleMark()).toMatch(/marked/);
    m.selected = snaps[2]![1];
    expect(m.diffWithMark()).toMatch(/diff of \[\d+\] and \[\d+\]/);
    const text = m.overlay!.lines.join('\n');
    expect(text).toMatch(/fields:\n {2}tick: \d+ -> \d+/);
    expect(text).toMatch(/bytes: \d+ -> \d+; \d+ differ, the first at \d+/);
    m.first();
    expect(m.jumpMark(1)).toMatch(/mark \[\d+\]/);
    expect(m.view.at(m.selected)).toBe(snaps[0]![0]);
    expect(m.diffWithMark()).toMatch(/no other marked snapshot/);
  });

  it('go to message N; save as hex, C array, base64, JSON and a vectors.yaml entry that runs as a vector', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const chatAt = m.messages.findIndex((x) => x.name === 'chat');
    expect(m.goTo(String(chatAt))).toBe(`message [${chatAt}]`);
    expect(m.goTo('99999')).toMatch(/a message number from 0/);
    const msg = m.selectedMessage()!;
    expect((m.messageAs('hex') as { text: string }).text).toBe(`${msg.wire.toString('hex')}\n`);
    expect((m.messageAs('base64') as { text: string }).text.trim()).toBe(msg.wire.toString('base64'));
    expect((m.messageAs('c') as { text: string }).text).toMatch(/static const unsigned char chat_\d+\[\d+\] = \{\n {2}0x/);
    expect(JSON.parse((m.messageAs('json') as { text: string }).text)).toMatchObject({ name: 'chat', dir: 'c2s' });
    const vector = (m.messageAs('vector') as { text: string }).text;
    const doc = parse(`protocol: testgame\nvectors:\n${vector}`) as { vectors: Vector[] };
    expect(runVector(tg, doc.vectors[0]!, 0).problems).toEqual([]);
    expect(m.messageAs('png')).toMatch(/save as: hex, c, base64, vector, json or fields/);
  });

  it('statistics: per name, and each connection with its rate', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.showStatistics();
    const text = m.overlay!.lines.join('\n');
    expect(text).toMatch(/^coverage: \d+ messages, \d+ decoded, 0 not/);
    expect(text).toMatch(/snapshot +\d+ msgs/);
    expect(text).toMatch(/connections \(messages a second, the last 30 seconds of each\):\n {2}#0 tcp .* msg\/s over/);
  });
});

describe('TUI: reload the protocol', () => {
  it('every message decoded again with the edited description, the selection and marks kept; what arrives next decodes in step', async () => {
    const { RecordingPlayer } = await import('../../src/recording/player');
    const { openRecording } = await import('../../src/recording/reader');
    const { reloadProtocol } = await import('../../src/cli/tui');
    const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'gs-reload-'));
    const file = join(dir, 'protocol.yaml');
    writeFileSync(file, readFileSync(tg.file, 'utf8'));
    const p = loadProtocol(file);
    const model = new SessionModel(p, {});
    const decoder = new MessageDecoder(p, model);
    const player = new RecordingPlayer(decoder);
    const rec = await openRecording(join(ROOT, 'recordings', 'testgame-solo.gsrec'));
    const records: Parameters<typeof player.record>[0][] = [];
    await rec.read((r) => void records.push(r));
    rec.close();
    const half = Math.floor(records.length / 2);
    for (const r of records.slice(0, half)) player.record(r);
    const before = model.messages.length;
    const chatAt = model.messages.findIndex((m) => m.name === 'chat');
    expect(chatAt).toBeGreaterThan(0);
    model.goToIndex(chatAt);
    model.toggleMark();
    // the author renames a message and a field
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^( {4})chat:$/m, '$1say:').replace('motd: { type: string', 'greeting: { type: string'));
    expect(reloadProtocol(model, decoder, file)).toMatch(/^reloaded testgame: \d+ messages decoded again$/);
    expect(model.messages.length).toBe(before);
    expect(model.selectedMessage()!.name).toBe('say');
    expect([...model.marks].map((i) => model.messages.at(i)!.name)).toEqual(['say']);
    expect(model.messages.find((m) => m.name === 'hello_ack')!.fields).toHaveProperty('greeting');
    expect(model.setFilter('chat')).toBe(false);
    // the rest of the session arrives: decoded with the new description, compression in step
    for (const r of records.slice(half)) player.record(r);
    player.finish();
    const rest = model.messages.slice(before);
    expect(rest.length).toBeGreaterThan(10);
    expect(rest.filter((m) => m.raw !== undefined || m.error)).toEqual([]);
    expect(rest.some((m) => m.name === 'say')).toBe(true);
    // a broken edit leaves everything as it was and says where
    writeFileSync(file, 'protocol: testgame\ntcp:\n  framing: { length: u77 }\n');
    expect(reloadProtocol(model, decoder, file)).toMatch(/^not reloaded: .*protocol\.yaml:3:/);
    expect(model.protocol).not.toBe(null);
  });
});

describe('TUI: connections, time, follow stream, wide text', () => {
  it('the connections pane puts open connections first, the most recently active on top', async () => {
    const m = await loaded();
    const list = m.connectionList();
    const open = (c: { state: string }) => c.state !== 'closed' && c.state !== 'reset';
    const firstClosed = list.findIndex((c) => !open(c));
    expect(list.slice(firstClosed < 0 ? list.length : firstClosed).every((c) => !open(c))).toBe(true);
    for (let i = 1; i < list.length; i++) if (open(list[i]!) === open(list[i - 1]!)) expect(list[i - 1]!.lastTs).toBeGreaterThanOrEqual(list[i]!.lastTs);
  });

  it('time as the clock, since the first message, or since the first mark', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const a = m.messages.at(3)!;
    expect(m.timeOf(a)).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(m.cycleTime()).toBe('time: seconds since the first message');
    expect(m.timeOf(m.messages.at(0)!)).toBe('+0.000000');
    m.goToIndex(3);
    m.toggleMark();
    expect(m.cycleTime()).toBe('time: seconds since the first mark');
    expect(m.timeOf(a)).toBe('+0.000000');
    expect(m.timeOf(m.messages.at(0)!)).toMatch(/^-0\.\d{6}$/);
    expect(m.cycleTime()).toBe('time: the clock');
  });

  it('follow stream: one connection, both directions in order, names, hex and ASCII, gaps with their size', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.goToIndex(m.messages.findIndex((x) => x.name === 'login'));
    expect(m.followStream()).toBe('follow stream #0 (F again: side by side)');
    const text = m.overlay!.lines.join('\n');
    expect(m.overlay!.title).toMatch(/^stream #0 tcp: \d+ bytes$/);
    expect(text).toMatch(/^ -> \[0\] hello \d+ B at offset 0$/m);
    expect(text).toMatch(/^\*-> \[\d+\] login /m);
    expect(text).toMatch(/^ <- \[\d+\] hello_ack /m);
    expect(text).toMatch(/^ {6}0000 {2}([0-9a-f]{2} )+/m);
    expect(text).not.toMatch(/position/);
    // a gap shows with its size
    const gapped = new SessionModel(tg, {});
    const flow = m.messages.at(0)!.flow;
    for (const x of m.messages.filter((y) => y.flow === flow).slice(0, 4)) gapped.message(x.index === 1 && x.dir === 'c2s' ? (Object.assign(Object.create(Object.getPrototypeOf(x) as object) as typeof x, x, { offset: x.offset + 7 })) : x);
    gapped.goToIndex(0);
    gapped.followStream();
    expect(gapped.overlay!.lines.join('\n')).toMatch(/-> … gap of 7 bytes \(lost by the capture\)/);
  });

  it('follow stream side by side: the client on the left, the server in a column of its own, no line past the width', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.goToIndex(m.messages.findIndex((x) => x.name === 'login'));
    m.followLayout = 'side';
    expect(m.followStream(16, 120)).toBe('follow stream #0, side by side (F again: one after the other)');
    expect(m.overlay!.title).toMatch(/, client \| server$/);
    const lines = m.overlay!.lines;
    expect(lines.find((l) => l.includes('hello_ack'))).toMatch(/^ {60} <- \[\d+\] hello_ack /);
    expect(lines.find((l) => l.includes('] hello '))).toMatch(/^ -> \[0\] hello /);
    // the hex rows of each side fit its half: 8 bytes a row in 60 columns
    const serverRow = lines.find((l) => /^ {66}0000 {2}/.test(l))!;
    expect(serverRow.length).toBeLessThanOrEqual(120);
    expect(serverRow.trim().split(/\s+/).length).toBeLessThanOrEqual(10);
    for (const l of lines.filter((x) => /^ {6}[0-9a-f]{4} /.test(x))) expect(l.length).toBeLessThanOrEqual(60);
  });

  it('rows fit their width in columns: wide characters count two, so a row never wraps', async () => {
    const { fit, padColumns } = await import('../../src/tui/render');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('你好你好你好', 7)).toBe('你好你…');
    expect(padColumns(fit('你好你好你好', 7), 7)).toBe('你好你…');
    expect(fit('ok', 5)).toBe('ok');
    expect(padColumns('你', 4)).toBe('你  ');
  });
});


describe('TUI: NO_COLOR', () => {
  it('colour tags come out; bold and inverse stay', async () => {
    const { monochrome } = await import('../../src/tui/render');
    const m = await loaded('testgame-solo.gsrec');
    m.figures = { source: 'lo', packets: 1, bytes: 1, drops: 0, recording: { file: 'x.gsrec', bytes: 1 }, live: true };
    m.paused = true;
    const status = renderStatus(m, 'testgame');
    expect(status).toMatch(/\{red-fg\}REC/);
    expect(monochrome(status)).not.toMatch(/-fg\}/);
    expect(monochrome('{bold}a{/bold} {inverse}b{/inverse} {yellow-fg}PAUSED{/yellow-fg}')).toBe('{bold}a{/bold} {inverse}b{/inverse} PAUSED');
  });
});

describe('TUI: the hex dump at any width', () => {
  it('rows never wrap (16, 8 or 4 bytes a row by the width) and the highlighted field scrolls into view', () => {
    const b = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
    const strip = (l: string) => l.replace(/\{\/?inverse\}/g, '').replace(/\{open\}/g, '{').replace(/\{close\}/g, '}');
    for (const width of [80, 60, 36, 30]) {
      for (const line of hexDump(b, -1, -1, 100, width)) expect(strip(line).length, `${width}: ${line}`).toBeLessThanOrEqual(width);
    }
    // 4 rows of 16 shown, the field at bytes 150-153: its row is among them, and the dump says what is above
    const rows = hexDump(b, 150, 154, 4, 80);
    expect(rows[0]).toBe('… 128 bytes before');
    expect(rows.some((l) => l.startsWith('0090') && l.includes('{inverse}96{/inverse}'))).toBe(true);
    expect(rows[rows.length - 1]).toMatch(/^… \d+ more bytes$/);
  });
});

describe('TUI: a filter over a long session', () => {
  it('goes a chunk at a time when asked (keys are answered meanwhile), with the same view at the end', async () => {
    const m = await loaded('testgame-duo.gsrec');
    m.setFilter('snapshot');
    const whole = [...m.view];
    m.setFilter('');
    m.chunk = 10;
    m.setFilter('snapshot');
    expect(m.filtering()).not.toBeNull();
    expect(renderStatus(m, 'testgame')).toMatch(/filter: snapshot \(filtering \d+%\)/);
    let steps = 0;
    while (m.work()) steps++;
    expect(steps).toBeGreaterThan(3);
    expect(m.filtering()).toBeNull();
    expect([...m.view]).toEqual(whole);
  });
});

describe('TUI: columns', () => {
  it('a message name shows the fields chosen for it in the list; the name alone shows every field again', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const snap = m.messages.find((x) => x.name === 'snapshot')!;
    expect(m.setColumns('snapshot tick entities.length entities[0].pos nosuch')).toBe('columns for snapshot: tick entities.length entities[0].pos nosuch');
    expect(m.detailOf(snap, 200)).toMatch(/^tick=\d+ entities\.length=\d+ entities\[0\]\.pos=\{x=[-\d.]+ y=[-\d.]+\} nosuch=-$/);
    const rows = renderMessages(m, 150, 200).join('\n');
    expect(rows).toMatch(/<- snapshot tick=\d+ entities\.length=/);
    expect(m.setColumns('nosuchmessage a')).toBe('columns: no message named nosuchmessage');
    expect(m.setColumns('snapshot a..b')).toMatch(/is not a field path/);
    expect(m.setColumns('snapshot')).toBe('columns: every field of snapshot');
    expect(m.detailOf(snap, 200)).toMatch(/^tick=\d+ server_time=/);
  });
});

describe('TUI: reload and messages that are not one run of bytes', () => {
  it('a flow whose messages overlap (a WebSocket ping between fragments) keeps what it decoded to', () => {
    const model = new SessionModel(tg, {});
    const flow = { id: 5, client: { addr: '127.0.0.1', port: 1 }, server: { addr: '127.0.0.1', port: 2 }, closed: false, lastTs: 0 };
    const msg = (offset: number, size: number) => ({ flow, transport: 'tcp', dir: 's2c', index: 0, offset, ts: offset, wire: Buffer.alloc(size), frame: Buffer.alloc(size), payload: Buffer.alloc(size), size, trailing: 0, compressed: false, name: 'x', fields: {} }) as unknown as Parameters<typeof model.message>[0];
    // the ping at 30 completed first; the message it interrupted starts at 0 and runs to 100
    model.message(msg(30, 9));
    model.message(msg(0, 91));
    const { flows, kept } = model.redecodeInput();
    expect(flows).toEqual([]);
    expect(kept.length).toBe(2);
  });
});

describe('TUI: a rate line per connection, and the clipboard', () => {
  it('statistics draw each connection\'s messages a second as bars; y copies through OSC 52, base64-encoded', async () => {
    const { sparkline } = await import('../../src/tui/model/session');
    const { osc52 } = await import('../../src/tui/screen');
    expect(sparkline([0, 1, 4, 8])).toBe(' ▁▄█');
    const m = await loaded('testgame-solo.gsrec');
    m.showStatistics();
    expect(m.overlay!.lines.join('\n')).toMatch(/#0 tcp .* msg\/s over [\d.]+ s {2}[ ▁▂▃▄▅▆▇█]+$/m);
    const seq = osc52('hex\x1b[31m');
    expect(seq).toBe(`\x1b]52;c;${Buffer.from('hex\x1b[31m').toString('base64')}\x07`);
    expect(seq.slice(7, -1)).not.toMatch(/[\x00-\x1f]/);
  });
});

/** What a rendered line shows: its tags taken out, braces back. */
const shown = (l: string): string => l.replace(/\{\/?(inverse|bold|underline)\}/g, '').replace(/\{open\}/g, '{').replace(/\{close\}/g, '}');

describe('TUI: the data inspector at a byte cursor', () => {
  it('reads a real message at the cursor: a chat\'s u16le length, then its text', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const at = m.messages.findIndex((x) => x.name === 'chat');
    m.goToIndex(at);
    const chat = m.selectedMessage()!;
    const text = (chat.fields as { text: string }).text;
    expect(m.inspection()).toBeNull();
    // the payload: the id, a u16le length, the text
    expect(m.moveCursor(1)).toBe(`inspector at byte 1 of ${chat.payload.length}: [ ] a byte, { } a row, escape closes`);
    const r = Object.fromEntries(m.inspection()!.groups.flat().map((x) => [x.label, x.value]));
    expect(r.u16le).toBe(String(Buffer.byteLength(text)));
    expect(r.u8).toBe(String(Buffer.byteLength(text) & 0xff));
    m.moveCursor(2);
    const s = m.inspection()!.groups.flat().find((x) => x.label === 'string')!;
    expect(s.value).toBe(`"${text}" (${Buffer.byteLength(text)} B)`);
    // a move's position: the f32le at its offset is pos.x
    m.goToIndex(m.messages.findIndex((x) => x.name === 'move'));
    const move = m.selectedMessage()!;
    expect(m.byteCursor()).toBe(0);
    m.moveCursor(3);
    const f = m.inspection()!.groups.flat().find((x) => x.label === 'f32le')!;
    expect(Number(f.value)).toBe((move.fields as { pos: { x: number } }).pos.x);
  });

  it('the cursor moves a byte or a row, stays inside the bytes, goes back to 0 on another selection; escape closes', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.goToIndex(m.messages.findIndex((x) => x.name === 'snapshot'));
    const size = m.selectedMessage()!.payload.length;
    m.moveCursor(-5);
    expect(m.byteCursor()).toBe(0);
    expect(m.inspecting).toBe(true);
    m.moveCursor(16);
    m.moveCursor(1);
    expect(m.byteCursor()).toBe(17);
    expect(m.inspection()!.at).toBe(17);
    m.moveCursor(100_000);
    expect(m.byteCursor()).toBe(size - 1);
    expect(m.inspection()!.left).toBe(1);
    expect(m.inspection()!.groups.flat().find((x) => x.label === 'u16')!.value).toBe('needs 2 bytes, 1 left');
    // another message: the cursor starts at 0 again, the inspector stays open
    m.move(1);
    expect(m.byteCursor()).toBe(0);
    expect(m.inspection()!.at).toBe(0);
    m.moveCursor(2);
    m.move(-1);
    expect(m.byteCursor()).toBe(0);
    // inspecting stops follow, as the details pane does
    m.last();
    m.moveCursor(1);
    expect(m.follow).toBe(false);
    m.closeInspector();
    expect(m.inspection()).toBeNull();
  });

  it('the details pane: the cursor byte inverse in the dump, the readings below it; no row past the width at 80x24 or wider', async () => {
    const m = await loaded('testgame-solo.gsrec');
    m.goToIndex(m.messages.findIndex((x) => x.name === 'snapshot'));
    m.pane = 'details';
    m.moveCursor(6);
    const payload = m.selectedMessage()!.payload;
    // the details pane at 80x24 is 34 columns by 14 rows inside its border; at 200x50, 88 by 48
    for (const [w, h] of [
      [34, 14],
      [88, 48],
      [80, 24],
      [24, 10],
    ] as const) {
      const lines = renderDetails(m, w, h, null);
      expect(lines.length, `${w}x${h}`).toBeLessThanOrEqual(h);
      for (const l of lines) expect(fit(shown(l), w), `${w}x${h}: ${l}`).toBe(shown(l));
      const text = lines.map(shown).join('\n');
      expect(text).toContain('@6 of ');
      // the cursor byte is the one inverse byte
      const inv = lines.join('\n').match(/\{inverse\}([0-9a-f]{2})\{\/inverse\}/g)!;
      expect(inv).toEqual([`{inverse}${payload[6]!.toString(16).padStart(2, '0')}{/inverse}`]);
    }
    const narrow = renderDetails(m, 34, 14, null).map(shown);
    expect(narrow).toContain(`u16le ${payload.readUInt16LE(6)}`.padEnd(18) + `u16be ${payload.readUInt16BE(6)}`);
    expect(narrow[narrow.length - 1]).toMatch(/^… also .*f64/);
    // wide: every reading, in two columns
    const wide = renderDetails(m, 88, 48, null).map(shown);
    expect(wide.find((l) => l.startsWith('u64le'))).toMatch(/^u64le \d+ +u64be \d+$/);
    expect(wide.find((l) => l.startsWith('f64le'))).toMatch(/ f64be /);
    expect(wide.some((l) => l.startsWith('…'))).toBe(false);
    // a selected field stays marked (underlined) around the cursor
    m.fieldSelected = 1; // snapshot.tick
    expect(renderDetails(m, 88, 48, null).join('\n')).toMatch(/\{underline\}[0-9a-f]{2}\{\/underline\}/);
  });

  it('inspector rows: pairs side by side when they fit, the rest named when rows run out', () => {
    const ins = { at: 0, left: 8, size: 8, groups: [[{ label: 'u8', value: '1' }, { label: 's8', value: '1' }], [{ label: 'u16le', value: '513' }, { label: 'u16be', value: '258' }], [{ label: 'f64le', value: '1.2345678901234567e-300' }, { label: 'f64be', value: '-9.87654321e+200' }], [{ label: 'string', value: '"{x}"' }]] };
    expect(inspectorLines(ins, 40).map(shown)).toEqual(['@0 of 8  u8 1  s8 1', 'u16le 513           u16be 258', 'f64le 1.2345678901234567e-300', 'f64be -9.87654321e+200', 'string "{x}"']);
    expect(inspectorLines(ins, 40)[4]).toBe('string "{open}x{close}"');
    expect(inspectorLines(ins, 40, 3).map(shown)).toEqual(['@0 of 8  u8 1  s8 1', 'u16le 513           u16be 258', '… also f64 string']);
  });
});

describe('TUI: fields proposed for a message id', () => {
  it('P: every move of the session, inferred, as YAML under fields: that parses, with how many it looked at; y saves the same', async () => {
    const m = await loaded('testgame-solo.gsrec');
    const moves = m.messages.filter((x) => x.name === 'move' && x.dir === 'c2s');
    expect(moves.length).toBeGreaterThan(5);
    m.goToIndex(m.messages.indexOf(moves[2]!));
    expect(m.proposeFields()).toBe(`fields for c2s move: ${moves.length} messages (y saves and copies it)`);
    const o = m.overlay!;
    expect(o.title).toBe(`fields for c2s move: ${moves.length} messages`);
    expect(o.lines[0]).toMatch(new RegExp(`^# looked at ${moves.length} c2s move messages: the bytes after the id, \\d+`));
    expect(o.lines).toContain('fields:');
    const doc = parse(o.lines.join('\n')) as { fields: Record<string, unknown> };
    expect(Object.keys(doc.fields).length).toBeGreaterThan(1);
    // the move's position: two floats in a row
    expect(Object.values(doc.fields).filter((v) => v === 'f32le')).toHaveLength(2);
    // every field line has its evidence as a comment
    for (const l of o.lines.filter((x) => /^ {2}\w+:/.test(x))) expect(l).toMatch(/ # /);
    // y's format `fields`: the same text, to a file and the clipboard by the one path y has
    expect(m.messageAs('fields')).toEqual({ text: `${o.lines.join('\n')}\n`, ext: 'fields.yaml' });
    // a chat's text is a u16le-prefixed string
    m.goToIndex(m.messages.findIndex((x) => x.name === 'chat'));
    m.proposeFields();
    expect(parse(m.overlay!.lines.join('\n'))).toEqual({ fields: { text: { type: 'string', prefix: 'u16le' } } });
  });

  it('an id the description does not know: its messages of that id and direction, the bytes after the id, as a whole entry; at most 2000, the most recent', async () => {
    const { MAX_PROPOSAL_SAMPLES } = await import('../../src/tui/model/session');
    const yaml = ['protocol: tiny', 'tcp:', '  ports: [24000]', '  framing: { length: u16le }', '  id: u8', '  messages:', '    known:', '      id: 1', '      dir: c2s', '      fields: {}', ''].join('\n');
    const p = compileProtocol(yaml, 'tiny.yaml');
    const m = new SessionModel(p, {});
    const dec = new MessageDecoder(p, m);
    const flow = new TcpConnection(0, 'k', { addr: '127.0.0.1', port: 40000 }, { addr: '127.0.0.1', port: 24000 }, 'x', 0);
    dec.open(flow, 1);
    const n = MAX_PROPOSAL_SAMPLES + 100;
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      // id 7: a counter, a float; id 9 now and then, which is not gathered
      const body = Buffer.alloc(9);
      body[0] = 7;
      body.writeUInt32LE(1000 + i, 1);
      body.writeFloatLE(i * 0.25, 5);
      frames.push(Buffer.concat([Buffer.from([body.length, 0]), body]));
      if (i % 100 === 0) frames.push(Buffer.from([3, 0, 9, 1, 2]));
    }
    dec.data(flow, 'c2s', Buffer.concat(frames), 0, 2);
    expect(m.messages.filter((x) => x.id === 7 && !x.name).length).toBe(n);
    m.goToIndex(m.messages.findIndex((x) => x.id === 7));
    expect(m.selectedMessage()!.name).toBeUndefined();
    expect(m.proposeFields()).toBe(`fields for c2s id 0x7: ${MAX_PROPOSAL_SAMPLES} messages (y saves and copies it)`);
    const lines = m.overlay!.lines;
    expect(lines[0]).toBe(`# looked at ${MAX_PROPOSAL_SAMPLES} c2s id 0x7 messages (the most recent ${MAX_PROPOSAL_SAMPLES} of ${n}): the bytes after the id, 8 bytes`);
    const doc = parse(lines.join('\n')) as Record<string, { id: number; dir: string; fields: Record<string, unknown> }>;
    expect(Object.keys(doc)).toEqual(['c2s_07']);
    expect(doc.c2s_07).toMatchObject({ id: 7, dir: 'c2s' });
    expect(Object.values(doc.c2s_07!.fields)).toEqual(['u32le', 'f32le']);
    // a message that did not frame has no id to gather by
    const raw = new SessionModel(p, {});
    const bytes = Buffer.from([5, 0, 7]);
    raw.message({ flow, transport: 'tcp', dir: 'c2s', index: 0, offset: 0, ts: 3, wire: bytes, frame: bytes, payload: bytes, size: 3, trailing: 0, compressed: false, raw: 'cut short' } as never);
    raw.goToIndex(0);
    expect(raw.proposeFields()).toMatch(/raw bytes \(cut short\): there is no message id/);
    expect(raw.overlay).toBeNull();
  });

  it('overlay lines are broken at spaces to the box, a YAML comment on rows of its own', () => {
    const line = '  text: { type: string, prefix: u16le } # a u16le length, then UTF-8 text, in all 5 (up to 18 bytes)';
    const rows = wrapLine(line, 44);
    expect(rows).toEqual(['  text: { type: string, prefix: u16le }', '    # a u16le length, then UTF-8 text, in', '    # all 5 (up to 18 bytes)']);
    expect(parse(['fields:', ...rows].join('\n'))).toEqual(parse(`fields:\n${line}`));
    for (const r of wrapLine('x'.repeat(100), 30)) expect(r.length).toBeLessThanOrEqual(30);
    expect(wrapLine('short', 30)).toEqual(['short']);
  });

  it('the help fits its box: long help texts wrap under themselves, every key is there', () => {
    const lines = renderHelp(70).map(shown);
    for (const l of lines) expect(fit(l, 70)).toBe(l);
    for (const b of KEYMAP) expect(lines.some((l) => l.startsWith(b.keys.join(', ').padEnd(18)))).toBe(true);
    expect(lines.find((l) => l.startsWith('S-p '))).toMatch(/propose fields/);
    expect(lines.find((l) => l.startsWith('['))).toMatch(/byte cursor/);
  });
});
