/** The inference report as text (for people) and as plain data (--json). */
import { describeFraming } from './framing';
import type { Draft } from './draft';
import { messageName } from './draft';
import type { InferReport } from './infer';

export function reportText(r: InferReport, draft: Draft | null): string[] {
  const out: string[] = [`inferred from ${r.source}`];
  if (!r.transports.length) out.push('no TCP or UDP traffic to infer from');
  for (const t of r.transports) {
    out.push('', `${t.transport} port ${t.port}: framing ${t.framing.k === 'datagram' ? 'datagram' : describeFraming(t.framing)}`);
    for (const n of t.notes) out.push(`  note: ${n}`);
    for (const d of t.directions) {
      out.push(`  ${d.dir}: ${d.streams} ${t.transport === 'tcp' ? 'streams' : 'flows'}, ${d.bytes} bytes, ${d.frames} frames`);
      if (t.transport === 'tcp') {
        const f = d.framing;
        if (f.best) {
          out.push(`    framing: ${describeFraming(f.best.framing)} (confidence ${f.best.confidence})`);
          for (const e of f.best.evidence) out.push(`      ${e}`);
          for (const o of f.others) out.push(`      also fits: ${describeFraming(o.framing)} (confidence ${o.confidence})`);
        } else for (const w of f.why) out.push(`    no framing: ${w}`);
      }
      const g = d.dispatch.best;
      if (g) {
        out.push(`    id: ${g.kind} at byte ${g.at} of the body (confidence ${g.confidence})`);
        for (const e of g.evidence) out.push(`      ${e}`);
        for (const o of d.dispatch.others) out.push(`      also possible: ${o.kind} at byte ${o.at} (confidence ${o.confidence})`);
      } else for (const w of d.dispatch.why) out.push(`    no id: ${w}`);
      for (const m of d.messages) {
        out.push(`    ${messageName(m, t.idKind, t.transport)}: ${m.count} messages, ${m.sizes[0] === m.sizes[1] ? `${m.sizes[0]}` : `${m.sizes[0]}-${m.sizes[1]}`} bytes`);
        for (const f of m.fields) out.push(`      ${f.sure ? 'sure ' : 'guess'} ${f.name}: ${typeof f.spec === 'string' ? f.spec : JSON.stringify(f.spec)} at ${f.at} (${f.evidence})`);
      }
    }
    for (const s of t.stateChanges) out.push(`  state change? ${s}`);
  }
  if (draft) {
    const c = draft.check;
    out.push('', `the draft decodes the input: ${c.messages} messages, ${c.named} named, ${c.errors} errors, ${c.raw} raw (bytes framing could not take)`);
    if (draft.fellBack.length) out.push(`  fields left as bytes (the guess failed on some messages): ${draft.fellBack.join(', ')}`);
    for (const p of c.problems) out.push(`  ${p}`);
  }
  return out;
}

/** Plain data: Buffers as hex, Maps as objects. */
export function reportJson(r: InferReport, draft: Draft | null): unknown {
  const plain = (v: unknown): unknown => {
    if (Buffer.isBuffer(v)) return v.toString('hex');
    if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), plain(x)]));
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  return { ...(plain(r) as object), draft: draft ? { name: draft.name, check: draft.check, fellBack: draft.fellBack } : null };
}
