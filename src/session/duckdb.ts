/**
 * DuckDB, embedded (@duckdb/node-api: an optional dependency with a prebuilt native binding per
 * platform, from the npm registry). Loaded on first use, so the commands that never touch it
 * start as fast as before and work without it; a missing or broken binding is one line, exit 2,
 * saying how to install it.
 */
import { dirname } from 'node:path';
import type * as NodeApi from '@duckdb/node-api';
import type * as NodeBindings from '@duckdb/node-bindings';
import { GamesniffError } from '../core/errors';

export type DuckDBApi = typeof NodeApi;
export type DuckDBBindings = typeof NodeBindings;
export type DuckDBConnection = NodeApi.DuckDBConnection;

let loaded: { api: DuckDBApi; bindings: DuckDBBindings } | null = null;

const HOW = 'install it with `npm install @duckdb/node-api` in the gamesniff directory (a prebuilt binary from the npm registry, for Linux, macOS and Windows on x64 and arm64)';

/** The DuckDB modules, or a GamesniffError (exit 2) saying how to install them. `what` names the feature (for the message). */
export function loadDuckDB(what: string): { api: DuckDBApi; bindings: DuckDBBindings } {
  if (loaded) return loaded;
  let api: DuckDBApi;
  let bindings: DuckDBBindings;
  try {
    api = require('@duckdb/node-api') as DuckDBApi;
    // the raw C API, for writing column vectors directly: the copy node-api itself uses
    const from = dirname(require.resolve('@duckdb/node-api'));
    bindings = require(require.resolve('@duckdb/node-bindings', { paths: [from] })) as DuckDBBindings;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'MODULE_NOT_FOUND' ? 'DuckDB (@duckdb/node-api) is not installed' : `DuckDB (@duckdb/node-api) did not load: ${String(err.message).split('\n')[0]}`;
    throw new GamesniffError('USAGE', `${what} needs DuckDB: ${why}; ${HOW}`);
  }
  loaded = { api, bindings };
  return loaded;
}

/**
 * A connection to a new in-memory database. Extensions are never downloaded (json, parquet and
 * icu are built in); `threads` caps DuckDB's worker threads (default: DuckDB's, one per core).
 */
export async function openDuckDB(what: string, threads?: number): Promise<{ connection: DuckDBConnection; connect(): Promise<DuckDBConnection>; close(): void }> {
  const { api } = loadDuckDB(what);
  const options: Record<string, string> = { autoinstall_known_extensions: 'false' };
  if (threads) options.threads = String(threads);
  const instance = await api.DuckDBInstance.create(':memory:', options);
  const connection = await instance.connect();
  const more: DuckDBConnection[] = [];
  return {
    connection,
    connect: async () => {
      const c = await instance.connect();
      more.push(c);
      return c;
    },
    close: () => {
      for (const c of more) c.closeSync();
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** An identifier quoted for SQL ("a.b" stays one name). */
export function sqlName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for SQL. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** DuckDB's message as one line: its first line (the kind and what went wrong), without the query echo below. */
export function duckError(e: unknown): string {
  const msg = String((e as Error)?.message ?? e).trim();
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[0] ?? msg;
}
