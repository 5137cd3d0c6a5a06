/** Keys as data: one table maps keys to named commands; `?` shows it. */

export type Command =
  | 'up'
  | 'down'
  | 'pageUp'
  | 'pageDown'
  | 'first'
  | 'last'
  | 'follow'
  | 'filter'
  | 'clearFilter'
  | 'nextPane'
  | 'select'
  | 'record'
  | 'export'
  | 'pause'
  | 'help'
  | 'intercept'
  | 'accept'
  | 'drop'
  | 'edit'
  | 'compose'
  | 'search'
  | 'searchNext'
  | 'searchPrev'
  | 'mark'
  | 'jumpMark'
  | 'diff'
  | 'goTo'
  | 'save'
  | 'statistics'
  | 'reload'
  | 'followStream'
  | 'time'
  | 'columns'
  | 'byteBack'
  | 'byteNext'
  | 'rowBack'
  | 'rowNext'
  | 'proposeFields'
  | 'quit';

export interface KeyBinding {
  keys: string[];
  command: Command;
  help: string;
}

/** Key names as blessed reports them. */
export const KEYMAP: KeyBinding[] = [
  { keys: ['up', 'k'], command: 'up', help: 'previous message (or field, or connection)' },
  { keys: ['down', 'j'], command: 'down', help: 'next message (or field, or connection)' },
  { keys: ['pageup'], command: 'pageUp', help: 'a page up' },
  { keys: ['pagedown', 'space'], command: 'pageDown', help: 'a page down' },
  { keys: ['home', 'g'], command: 'first', help: 'first message' },
  { keys: ['end', 'S-g'], command: 'last', help: 'last message, and follow' },
  { keys: ['f'], command: 'follow', help: 'follow new messages on/off' },
  { keys: ['/'], command: 'filter', help: 'filter: chat.text ~ "hi", dir == "s2c", snapshot.entities.length > 3' },
  { keys: ['escape'], command: 'clearFilter', help: 'close the byte inspector, else clear the filter' },
  { keys: ['tab'], command: 'nextPane', help: 'switch pane: messages, details, connections' },
  { keys: ['enter'], command: 'select', help: 'connections pane: show that connection only' },
  { keys: ['r'], command: 'record', help: 'start/stop recording to recordings/' },
  { keys: ['e'], command: 'export', help: 'export the shown messages as JSON lines to recordings/' },
  { keys: ['p'], command: 'pause', help: 'pause the display (capture goes on)' },
  { keys: ['i'], command: 'intercept', help: 'proxy: hold messages: c2s, s2c, both, off (held ones go on)' },
  { keys: ['a'], command: 'accept', help: 'proxy: send the oldest held message as it is' },
  { keys: ['x'], command: 'drop', help: 'proxy: drop the oldest held message' },
  { keys: ['S-e'], command: 'edit', help: 'proxy: edit the oldest held message\'s fields (JSON), enter sends' },
  { keys: ['c'], command: 'compose', help: 'proxy: a new message: DIR NAME, then its fields (JSON) from a template' },
  { keys: ['s'], command: 'search', help: 'search the view: text in names and fields, or hex bytes (0a 0b)' },
  { keys: ['n'], command: 'searchNext', help: 'next match' },
  { keys: ['S-n'], command: 'searchPrev', help: 'previous match' },
  { keys: ['m'], command: 'mark', help: 'mark or unmark the message' },
  { keys: ["'"], command: 'jumpMark', help: 'next marked message' },
  { keys: ['d'], command: 'diff', help: 'diff the message with the nearest marked one of its name, fields and bytes' },
  { keys: [':'], command: 'goTo', help: 'go to message N' },
  { keys: ['y'], command: 'save', help: "save the message as hex, c, base64, vector (for vectors.yaml), json, or fields (P's proposal); also copied" },
  { keys: ['['], command: 'byteBack', help: 'byte cursor a byte back in the hex dump: the inspector reads the bytes there (ints, floats, varint, text)' },
  { keys: [']'], command: 'byteNext', help: 'byte cursor a byte on (the inspector opens; a new selection starts at byte 0)' },
  { keys: ['{'], command: 'rowBack', help: 'byte cursor a row of the dump back' },
  { keys: ['}'], command: 'rowNext', help: 'byte cursor a row of the dump on' },
  { keys: ['S-p'], command: 'proposeFields', help: 'propose fields for this kind of message from every one of its name (or id) and direction: YAML for protocol.yaml, y in it saves' },
  { keys: ['S-f'], command: 'followStream', help: "follow stream: the selected message's connection, both ways, hex and ASCII, gaps marked" },
  { keys: ['o'], command: 'columns', help: 'columns: NAME and the fields the list shows for it (snapshot tick entities.length); NAME alone for all' },
  { keys: ['t'], command: 'time', help: 'time as the clock, since the first message, or since the first mark' },
  { keys: ['S-r'], command: 'reload', help: 'read the protocol file again and decode everything again (also when the file changes)' },
  { keys: ['S-s'], command: 'statistics', help: 'statistics: messages and bytes per name, unknown ids, errors, rates' },
  { keys: ['?'], command: 'help', help: 'this help' },
  { keys: ['q', 'C-c'], command: 'quit', help: 'quit' },
];

const BY_KEY = new Map<string, Command>();
for (const b of KEYMAP) for (const k of b.keys) BY_KEY.set(k, b.command);

export function commandFor(key: string): Command | undefined {
  return BY_KEY.get(key);
}
