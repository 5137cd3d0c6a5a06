/**
 * Delta debugging, bounded in time: remove chunks (halving their size when nothing more goes) while
 * the same crash signature still reproduces. Text is reduced by lines first, then by characters.
 * A websocket case is reduced by its parts: whole frames of each direction and whole script steps
 * first, then the bytes of each part.
 */
import { decodeWsCase, encodeWsCase, readFrame, type WsCase } from './websocket';

export type Reproduces = (candidate: Buffer) => Promise<boolean>;

async function reduce<T>(units: T[], join: (u: T[]) => Buffer, reproduces: Reproduces, deadline: number): Promise<T[]> {
  let chunk = Math.max(1, Math.floor(units.length / 2));
  while (chunk >= 1 && Date.now() < deadline) {
    let progressed = false;
    for (let i = 0; i < units.length && Date.now() < deadline; ) {
      const cand = [...units.slice(0, i), ...units.slice(i + chunk)];
      if (cand.length < units.length && (await reproduces(join(cand)))) {
        units = cand;
        progressed = true;
      } else i += chunk;
    }
    if (!progressed) {
      if (chunk === 1) break;
      chunk = Math.floor(chunk / 2);
    }
  }
  return units;
}

async function reduceBytes(b: Buffer, reproduces: Reproduces, deadline: number): Promise<Buffer> {
  let chunk = Math.max(1, Math.floor(b.length / 2));
  while (chunk >= 1 && Date.now() < deadline) {
    let progressed = false;
    for (let i = 0; i < b.length && Date.now() < deadline; ) {
      const cand = Buffer.concat([b.subarray(0, i), b.subarray(i + chunk)]);
      if (await reproduces(cand)) {
        b = cand;
        progressed = true;
      } else i += chunk;
    }
    if (!progressed) {
      if (chunk === 1) break;
      chunk = Math.floor(chunk / 2);
    }
  }
  return b;
}

export interface MinimizeResult {
  data: Buffer;
  runs: number;
  ms: number;
}

/** A stream as units: an HTTP head, each whole frame, and what follows. */
function streamUnits(b: Buffer): Buffer[] {
  const units: Buffer[] = [];
  let at = 0;
  const e = b.indexOf('\r\n\r\n');
  if (e >= 0 && /^[A-Z]{3,10} |^HTTP\//.test(b.subarray(0, 11).toString('latin1'))) {
    units.push(b.subarray(0, e + 4));
    at = e + 4;
  }
  while (at < b.length) {
    const f = readFrame(b, at);
    if (!f) break;
    units.push(b.subarray(at, at + f.size));
    at += f.size;
  }
  if (at < b.length) units.push(b.subarray(at));
  return units;
}

async function reduceWs(data: Buffer, reproduces: Reproduces, deadline: number): Promise<Buffer> {
  let c: WsCase = decodeWsCase(data);
  const parts = ['c2s', 's2c', 'script'] as const;
  // the case as it will be written (lengths cut to what is there) must still reproduce
  if (!(await reproduces(encodeWsCase(c)))) return data;
  for (let round = 0; round < 3 && Date.now() < deadline; round++) {
    const before = encodeWsCase(c).length;
    for (const part of parts) {
      const units = part === 'script' ? Array.from({ length: Math.floor(c.script.length / 3) }, (_, i) => c.script.subarray(i * 3, i * 3 + 3)) : streamUnits(c[part]);
      const tail = part === 'script' ? c.script.subarray(units.length * 3) : Buffer.alloc(0);
      const kept = await reduce(units, (u) => encodeWsCase({ ...c, [part]: Buffer.concat([...u, tail]) }), reproduces, deadline);
      c = { ...c, [part]: Buffer.concat([...kept, tail]) };
    }
    for (const part of parts) {
      const fixed = c;
      const b = await reduceBytes(c[part], (cand) => reproduces(encodeWsCase({ ...fixed, [part]: cand })), deadline);
      c = { ...c, [part]: b };
    }
    if (encodeWsCase(c).length === before) break;
  }
  return encodeWsCase(c);
}

export async function minimize(data: Buffer, kind: 'bytes' | 'text' | 'websocket', reproduces: Reproduces, budgetMs: number): Promise<MinimizeResult> {
  const start = Date.now();
  const deadline = start + budgetMs;
  let runs = 0;
  const check: Reproduces = (b) => {
    runs++;
    return reproduces(b);
  };
  let out = data;
  if (kind === 'websocket') {
    out = await reduceWs(out, check, deadline);
  } else if (kind === 'text') {
    const lines = out.toString('utf8').split(/(?<=\n)/);
    const kept = await reduce(lines, (u) => Buffer.from(u.join(''), 'utf8'), check, deadline);
    const chars = [...kept.join('')];
    out = Buffer.from((await reduce(chars, (u) => Buffer.from(u.join(''), 'utf8'), check, deadline)).join(''), 'utf8');
  } else {
    out = await reduceBytes(out, check, deadline);
  }
  return { data: out, runs, ms: Date.now() - start };
}
