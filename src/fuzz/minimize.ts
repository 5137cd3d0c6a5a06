/**
 * Delta debugging, bounded in time: remove chunks (halving their size when nothing more goes) while
 * the same crash signature still reproduces. Text is reduced by lines first, then by characters.
 */

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

export async function minimize(data: Buffer, text: boolean, reproduces: Reproduces, budgetMs: number): Promise<MinimizeResult> {
  const start = Date.now();
  const deadline = start + budgetMs;
  let runs = 0;
  const check: Reproduces = (b) => {
    runs++;
    return reproduces(b);
  };
  let out = data;
  if (text) {
    const lines = out.toString('utf8').split(/(?<=\n)/);
    const kept = await reduce(lines, (u) => Buffer.from(u.join(''), 'utf8'), check, deadline);
    const chars = [...kept.join('')];
    out = Buffer.from((await reduce(chars, (u) => Buffer.from(u.join(''), 'utf8'), check, deadline)).join(''), 'utf8');
  } else {
    out = await reduceBytes(out, check, deadline);
  }
  return { data: out, runs, ms: Date.now() - start };
}
