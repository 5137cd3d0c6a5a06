/**
 * The blessed screen: widgets that only draw what the renderers return, a key handler that maps
 * keys to the model's commands through the keymap, and a redraw tick (so that a flood of
 * messages is drawn at most 10 times a second and never starves input).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import blessed from 'blessed';
import { messageJson } from '../session/format';
import { escapeText } from '../core/terminal';
import { commandFor, KEYMAP, type Command } from './model/keymap';
import type { PacketRing } from './model/packets';
import type { SessionModel } from './model/session';
import { bytesPerRow } from './model/hex';
import { esc as escapeTags, fit, monochrome, renderConnections, renderDetails, renderHelp, renderMessages, renderStatus, wrapLine } from './render';

/** The proxy's intercept, driven from the keys (each returns what to show). */
export interface InterceptHooks {
  /** `i`: hold c2s, s2c, both, or nothing. */
  cycle(): string;
  /** For the status bar: what is held. */
  status(): string;
  /** The oldest held message: its name and fields as JSON. */
  oldest(): { label: string; json: string } | null;
  /** Send the oldest held message as it is, or with these fields (JSON). */
  accept(json?: string): string;
  drop(): string;
  /** `n`, first step: `DIR NAME` gives the fields to start from (JSON), or why not. */
  template(spec: string): { json: string } | string;
  /** `n`, second step: send it into the newest connection. */
  send(spec: string, json: string): string;
}

export interface ScreenHooks {
  /** `r`: start or stop recording; returns what to show. */
  toggleRecording(): string;
  /** In gamesniff proxy. */
  intercept?: InterceptHooks;
  /** `R`: read the protocol file again and decode everything again; returns what to show. */
  reload?: () => string;
  /** Called once when the user quits. */
  quit(): void;
}

export interface TuiScreen {
  destroy(): void;
  /** A line in the status bar for a few seconds. */
  notice(text: string): void;
}

export function openScreen(model: SessionModel, protocolName: string | null, packets: PacketRing | null, hooks: ScreenHooks): TuiScreen {
  const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'gamesniff', autoPadding: false });
  // rows are cut to fit (render.ts); blessed must not wrap one onto the next
  const conns = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: 6, label: ' connections ', border: 'line', tags: true, wrap: false });
  const list = blessed.box({ parent: screen, top: 6, left: 0, width: '55%', height: '100%-8', label: ' messages ', border: 'line', tags: true, mouse: true, wrap: false });
  const details = blessed.box({ parent: screen, top: 6, left: '55%', width: '45%', height: '100%-8', label: ' details ', border: 'line', tags: true, wrap: false });
  const status = blessed.box({ parent: screen, bottom: 1, left: 0, width: '100%', height: 1, tags: true, style: { inverse: true } });
  const input = blessed.textbox({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, inputOnFocus: false, keys: true });
  const help = blessed.box({ parent: screen, top: 'center', left: 'center', width: '90%', height: Math.min(KEYMAP.length + 7, Math.max(10, (screen.height as number) - 2)), border: 'line', label: ' help ', tags: true, hidden: true, scrollable: true, alwaysScroll: true });
  /** The help's lines at the box's width (long help texts wrap under themselves). */
  const helpLines = (): string[] => renderHelp(Math.max(20, (help.width as number) - 2));
  let notice = '';
  let noticeTimer: NodeJS.Timeout | null = null;
  let editing = false;

  // NO_COLOR (no-color.org) or a terminal without colours: no colour tags, focus shown by bold borders
  const mono = !!process.env.NO_COLOR || (screen.tput as unknown as { colors?: number }).colors! < 8;
  const paint = (s: string): string => (mono ? monochrome(s) : s);

  const inner = (b: blessed.Widgets.BoxElement): { w: number; h: number } => ({ w: Math.max(1, (b.width as number) - 2), h: Math.max(1, (b.height as number) - 2) });

  const draw = (): void => {
    const pane = model.pane;
    for (const [b, p] of [
      [list, 'messages'],
      [details, 'details'],
      [conns, 'connections'],
    ] as const) b.style.border = mono ? { bold: pane === p } : { fg: pane === p ? 'cyan' : 'white' };
    const c = inner(conns);
    conns.setContent(paint(renderConnections(model, c.w, c.h).join('\n')));
    const l = inner(list);
    list.setContent(paint(renderMessages(model, l.w, l.h).join('\n')));
    const d = inner(details);
    const m = model.selectedMessage();
    details.setContent(paint(renderDetails(model, d.w, d.h, m && packets ? packets.behind(m) : null).join('\n')));
    const held = hooks.intercept ? `  ${escapeTags(hooks.intercept.status())}` : '';
    // a notice goes first, where a narrow terminal still shows it
    status.setContent(paint(notice ? `{bold}${escapeTags(notice)}{/bold}${held}  ${renderStatus(model, protocolName)}` : `${renderStatus(model, protocolName)}${held}`));
    if (model.showHelp) help.setContent(helpLines().join('\n'));
    screen.render();
  };

  // paused or not, the status bar's counters go on: pause holds the list only
  const tick = setInterval(() => {
    model.tick(Date.now());
    model.work();
    draw();
  }, 100);
  // a filter over a long session goes a chunk per tick, so keys are answered meanwhile
  model.chunk = 100_000;

  const run = (cmd: Command): void => {
    const page = Math.max(1, inner(list).h - 1);
    switch (cmd) {
      case 'up':
        return model.move(-1);
      case 'down':
        return model.move(1);
      case 'pageUp':
        return model.move(-page);
      case 'pageDown':
        return model.move(page);
      case 'first':
        return model.first();
      case 'last':
        return model.last();
      case 'follow':
        return model.toggleFollow();
      case 'pause':
        return model.togglePause();
      case 'nextPane':
        return model.nextPane();
      case 'select':
        if (model.pane === 'connections') model.filterSelectedConnection();
        return;
      case 'clearFilter':
        // escape backs out: the inspector first, then the filter
        if (model.inspecting) return model.closeInspector();
        model.setFilter('');
        return;
      case 'help':
        model.showHelp = true;
        help.height = Math.min(helpLines().length + 2, Math.max(10, (screen.height as number) - 2));
        help.setScroll(0);
        help.show();
        return;
      case 'byteBack':
      case 'byteNext':
      case 'rowBack':
      case 'rowNext': {
        // a row as the details pane's dump shows it: 16, 8 or 4 bytes
        const step = cmd === 'byteBack' || cmd === 'byteNext' ? 1 : bytesPerRow(inner(details).w);
        const opening = !model.inspecting;
        const said = model.moveCursor(cmd === 'byteBack' || cmd === 'rowBack' ? -step : step);
        if (opening || !model.inspecting) show(said);
        return;
      }
      case 'proposeFields':
        show(model.proposeFields());
        return showOverlay();
      case 'record':
        return show(hooks.toggleRecording());
      case 'export':
        return show(exportView(model));
      case 'filter':
        // the old filter to edit (C-u clears it, C-w takes a word back); errors point into this text
        show('filter (enter applies, escape keeps the old one, C-u clears):');
        return ask(model.filter?.text ?? '', (value) => {
          model.setFilter(value);
          if (model.filterError) show(model.filterError);
        });
      case 'quit':
        hooks.quit();
        return;
      case 'search':
        show('search (text in names and fields, or hex bytes like 0a 0b):');
        return ask(model.search ?? '', (q) => show(model.find(q, 1)));
      case 'searchNext':
        return show(model.find(model.search, 1));
      case 'searchPrev':
        return show(model.find(model.search, -1));
      case 'mark':
        return show(model.toggleMark());
      case 'jumpMark':
        return show(model.jumpMark(1));
      case 'diff':
        show(model.diffWithMark());
        return showOverlay();
      case 'followStream':
        show(model.followStream(16, (help.width as number) - 4));
        return showOverlay();
      case 'time':
        return show(model.cycleTime());
      case 'columns': {
        const m = model.selectedMessage();
        const name = m?.label ?? m?.name ?? '';
        show('columns: NAME then field paths (NAME alone: every field)');
        return ask(name ? `${name} ${(model.columns.get(name) ?? []).join(' ')}`.trimEnd() + ' ' : '', (line) => show(model.setColumns(line)));
      }
      case 'reload':
        return show(hooks.reload ? hooks.reload() : 'no protocol file to reload');
      case 'statistics':
        model.showStatistics();
        return showOverlay();
      case 'goTo':
        show('go to message number:');
        return ask('', (n) => show(model.goTo(n)));
      case 'save':
        show('save the message as: hex, c, base64, vector, json or fields');
        return ask('vector', (format) => show(saveMessage(model, format, (seq) => screen.program.write(seq))));
      case 'intercept':
      case 'accept':
      case 'drop':
      case 'edit':
      case 'compose':
        return interceptKey(cmd);
    }
  };

  /** Read one line in the input bar, starting from `value`; `done` gets it (nothing on escape). */
  input.key('C-u', () => {
    input.setValue('');
    screen.render();
  });
  input.key('C-w', () => {
    input.setValue(input.getValue().replace(/\S*\s*$/, ''));
    screen.render();
  });

  const ask = (value: string, done: (line: string) => void): void => {
    editing = true;
    input.setValue(value);
    input.readInput((err, line) => {
      editing = false;
      input.setValue('');
      if (!err && typeof line === 'string') done(line);
      draw();
    });
    screen.render();
  };

  const interceptKey = (cmd: 'intercept' | 'accept' | 'drop' | 'edit' | 'compose'): void => {
    const ic = hooks.intercept;
    if (!ic) return show('intercept, accept, drop, edit and new messages work in gamesniff proxy');
    if (cmd === 'intercept') return show(ic.cycle());
    if (cmd === 'accept') return show(ic.accept());
    if (cmd === 'drop') return show(ic.drop());
    if (cmd === 'edit') {
      const h = ic.oldest();
      if (!h) return show('nothing is held');
      show(`editing ${h.label}: enter sends, escape leaves it held`);
      return ask(h.json, (line) => show(ic.accept(line)));
    }
    show('new message: DIR NAME (c2s chat), enter; then its fields');
    ask('c2s ', (spec) => {
      const t = ic.template(spec);
      if (typeof t === 'string') return show(t);
      show(`${spec}: edit the fields, enter sends into the newest connection`);
      setImmediate(() => ask(t.json, (json) => show(ic.send(spec, json))));
    });
  };

  const show = (text: string): void => {
    notice = text;
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      notice = '';
    }, 5000);
  };

  /** A diff or the statistics, in the big box, until a key closes it. */
  const showOverlay = (): void => {
    const o = model.overlay;
    if (!o) return;
    const width = Math.max(16, (help.width as number) - 2);
    help.setLabel(` ${fit(`${o.title} (${o.title.startsWith('fields for ') ? 'y saves, any other key closes' : 'any key closes'})`, width - 4)} `);
    // rows never wrap by themselves: long lines are broken at spaces, indented (YAML comments stay comments)
    help.setContent(o.lines.flatMap((l) => wrapLine(escapeText(l), width)).map(escapeTags).join('\n'));
    help.setScroll(0);
    help.show();
  };

  screen.on('keypress', (_ch: string, key: { full: string } | undefined) => {
    if (editing || !key) return;
    if ((model.overlay || model.showHelp) && ['up', 'down', 'k', 'j', 'pageup', 'pagedown', 'space'].includes(key.full)) {
      // a long overlay (a followed stream) or the help scrolls; any other key closes it
      const page = Math.max(1, (help.height as number) - 3);
      help.scroll(key.full === 'up' || key.full === 'k' ? -1 : key.full === 'down' || key.full === 'j' ? 1 : key.full === 'pageup' ? -page : page);
      screen.render();
      return;
    }
    if (model.overlay?.title.startsWith('stream #') && key.full === 'S-f') {
      // F again: the other layout (one after the other, side by side)
      model.followLayout = model.followLayout === 'side' ? 'interleaved' : 'side';
      show(model.followStream(16, (help.width as number) - 4));
      showOverlay();
      screen.render();
      return;
    }
    if (model.overlay?.title.startsWith('fields for ') && key.full === 'y') {
      // the proposed fields, saved and copied as y saves them (the format `fields`)
      show(saveMessage(model, 'fields', (seq) => screen.program.write(seq)));
    }
    if (model.showHelp || model.overlay) {
      model.showHelp = false;
      model.overlay = null;
      help.setLabel(' help ');
      help.hide();
      draw();
      return;
    }
    const cmd = commandFor(key.full === 'return' ? 'enter' : key.full);
    if (!cmd) return;
    run(cmd);
    if (cmd !== 'quit') draw();
  });
  list.on('click', (data: { y: number }) => {
    const row = data.y - (list.atop as number) - 1;
    const vi = model.top + row;
    if (row >= 0 && vi < model.view.length) {
      model.pane = 'messages';
      model.selected = vi;
      model.follow = false;
      model.fieldSelected = 0;
      draw();
    }
  });
  list.on('wheelup', () => {
    model.move(-3);
    draw();
  });
  list.on('wheeldown', () => {
    model.move(3);
    draw();
  });
  screen.on('resize', () => draw());
  draw();

  return {
    destroy() {
      clearInterval(tick);
      if (noticeTimer) clearTimeout(noticeTimer);
      screen.destroy();
    },
    notice: show,
  };
}

/** The terminal's clipboard (OSC 52, which xterm, kitty, iTerm2, tmux with set-clipboard honour): the text base64-encoded, so nothing in it reaches the terminal raw. */
export function osc52(text: string): string {
  return `\x1b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\x07`;
}

/** `y`: the selected message in a format, to a file under recordings/ and to the terminal's clipboard. */
function saveMessage(model: SessionModel, format: string, copy: (text: string) => void): string {
  const r = model.messageAs(format);
  if (typeof r === 'string') return r;
  if (r.text.length <= 100_000) copy(osc52(r.text));
  const file = join('recordings', `message-${model.view.at(model.selected)}.${r.ext}`);
  try {
    mkdirSync('recordings', { recursive: true });
    writeFileSync(file, r.text);
  } catch (e) {
    return `save failed: ${(e as Error).message}`;
  }
  return `saved ${file}${r.text.length <= 100_000 ? ' (and copied, where the terminal lets programs set its clipboard)' : ''}`;
}

/** `e`: the messages the view shows, as JSON lines under recordings/. */
function exportView(model: SessionModel): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join('recordings', `view-${stamp}.jsonl`);
  try {
    mkdirSync('recordings', { recursive: true });
    writeFileSync(file, model.view.map((i) => JSON.stringify(messageJson(model.messages.at(i)!))).join('\n') + (model.view.length ? '\n' : ''));
  } catch (e) {
    return `export failed: ${(e as Error).message}`;
  }
  return `exported ${model.view.length} messages to ${file}`;
}
