import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import type { DuckDBValue } from '@duckdb/node-api';
import { GamesniffError } from '../core/errors';
import { escapeText } from '../core/terminal';
import { duckError, loadDuckDB, openDuckDB, sqlString } from '../session/duckdb';
import { LineWriter, say } from './output';

interface QueryOptions {
  json?: boolean;
  csv?: boolean;
}

/** A table cell is cut to this many characters (`--csv` and `--json` keep everything). */
const CELL_MAX = 80;

export function queryCommand(): Command {
  return new Command('query')
    .description('run SQL over Parquet files with DuckDB (embedded): FILES are the view `messages`, or name files in the SQL (read_parquet(\'x.parquet\')); prints a table, --json or --csv')
    .argument('<sql>', 'the SQL (several statements: the last one\'s result is printed)')
    .argument('[files...]', 'Parquet files or directories (every .parquet under them; partition directories protocol=/date= become columns), queried as the view `messages`')
    .option('--json', 'one JSON object a line')
    .option('--csv', 'CSV, a header line first')
    .action(async (sql: string, files: string[], o: QueryOptions) => {
      if (o.json && o.csv) throw new GamesniffError('USAGE', '--json and --csv are two formats: give one');
      const sources = files.map((f) => {
        if (!existsSync(f)) throw new GamesniffError('INPUT', `${f}: no such file or directory`);
        return statSync(f).isDirectory() ? join(f, '**', '*.parquet') : f;
      });
      loadDuckDB('query');
      const db = await openDuckDB('query');
      try {
        if (sources.length) {
          try {
            await db.connection.run(`CREATE VIEW messages AS SELECT * FROM read_parquet([${sources.map(sqlString).join(', ')}], union_by_name = true, hive_partitioning = true)`);
          } catch (e) {
            throw new GamesniffError('INPUT', `cannot read ${files.join(', ')}: ${duckError(e)}`);
          }
        }
        await run(db.connection, sql, o, sources.length > 0);
      } finally {
        db.close();
      }
    });
}

async function run(con: Awaited<ReturnType<typeof openDuckDB>>['connection'], sql: string, o: QueryOptions, haveFiles: boolean): Promise<void> {
  const fail = (e: unknown): never => {
    const msg = duckError(e);
    const hint = !haveFiles && /\bmessages\b/.test(msg) && /does not exist/.test(msg) ? ' (give the Parquet files after the SQL to query them as `messages`)' : '';
    throw new GamesniffError('USAGE', `SQL: ${msg}${hint}`);
  };
  let result;
  try {
    const statements = await con.extractStatements(sql);
    if (statements.count === 0) throw new GamesniffError('USAGE', 'SQL: no statement');
    for (let i = 0; i < statements.count - 1; i++) await (await statements.prepare(i)).run();
    result = await (await statements.prepare(statements.count - 1)).stream();
  } catch (e) {
    if (e instanceof GamesniffError) throw e;
    return fail(e);
  }
  const names = result.columnNames();
  const json = result.columnTypes().map((t) => (t as { alias?: string }).alias === 'JSON');
  const out = new LineWriter(65536, !!o.json);
  const table: string[][] = [];
  let rows = 0;
  if (o.csv) out.line(names.map(csvCell).join(','));
  try {
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (const row of chunk.getRows()) {
        rows++;
        if (o.json) out.line(JSON.stringify(Object.fromEntries(names.map((n, j) => [n, jsonCell(row[j]!, json[j]!)]))));
        else if (o.csv) out.line(row.map((v) => (v === null ? '' : csvCell(String(v)))).join(','));
        else table.push(row.map((v) => tableCell(v)));
      }
    }
  } catch (e) {
    out.flush();
    return fail(e);
  }
  if (!o.json && !o.csv) for (const line of tableLines(names.map((n) => tableCell(n)), table)) out.line(line);
  out.flush();
  if (!o.json && !o.csv) say(`${rows} ${rows === 1 ? 'row' : 'rows'}`);
}

function tableCell(v: DuckDBValue): string {
  const s = escapeText(v === null ? 'NULL' : String(v));
  return s.length > CELL_MAX ? `${s.slice(0, CELL_MAX - 1)}…` : s;
}

function tableLines(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, j) => rows.reduce((w, r) => Math.max(w, r[j]!.length), h.length));
  const line = (cells: string[]): string => cells.map((c, j) => c.padEnd(widths[j]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function csvCell(s: string): string {
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A value as JSON: integers as numbers when exact, bytes as hex (as decode --json), lists and structs nested, JSON columns parsed, the rest as DuckDB writes it. */
function jsonCell(v: DuckDBValue, isJson: boolean): unknown {
  if (v === null) return null;
  switch (typeof v) {
    case 'string':
      if (isJson) {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v;
        }
      }
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : String(v);
  }
  const { api } = loadDuckDB('query');
  if (v instanceof api.DuckDBBlobValue) return Buffer.from(v.bytes).toString('hex');
  if (v instanceof api.DuckDBListValue || v instanceof api.DuckDBArrayValue) return v.items.map((x) => jsonCell(x, false));
  if (v instanceof api.DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, jsonCell(x, false)]));
  if (v instanceof api.DuckDBMapValue) return Object.fromEntries(v.entries.map((e) => [String(e.key), jsonCell(e.value, false)]));
  if (v instanceof api.DuckDBDecimalValue) return Number(v.toString());
  return String(v);
}
