/**
 * Loading a proxy script: a TypeScript file through tsx (a well-kept loader; no build step for the
 * user), a JavaScript file as it is. The module's default export, or its named exports, are the
 * hooks (script.ts). What is not a script is said in one line (exit 2); the proxy does not start.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { GamesniffError } from '../core/errors';
import type { ProxyScript } from './script';

const HOOKS = ['onConnect', 'onMessage', 'onClose'] as const;

export function loadScript(file: string): ProxyScript {
  const path = resolve(file);
  if (!existsSync(path)) throw new GamesniffError('INPUT', `--script ${file}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = /\.[cm]?tsx?$/.test(path) ? (require('tsx/cjs/api') as { require: (id: string, from: string) => Record<string, unknown> }).require(path, __filename) : (require(path) as Record<string, unknown>);
  } catch (e) {
    throw new GamesniffError('INPUT', `--script ${file}: it does not load: ${(e as Error).message.split('\n').slice(0, 6).join('\n')}`);
  }
  const m = (mod.default && typeof mod.default === 'object' ? mod.default : mod) as Record<string, unknown>;
  const script: ProxyScript = {};
  for (const h of HOOKS) {
    if (m[h] === undefined) continue;
    if (typeof m[h] !== 'function') throw new GamesniffError('INPUT', `--script ${file}: ${h} is not a function`);
    (script as Record<string, unknown>)[h] = (m[h] as (...a: unknown[]) => unknown).bind(m);
  }
  if (!HOOKS.some((h) => script[h])) throw new GamesniffError('INPUT', `--script ${file}: exports none of ${HOOKS.join(', ')} (export them, or a default object with them)`);
  return script;
}
