import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GamesniffError } from '../core/errors';
import type { PortSpec } from '../capture/ports';
import { parsePorts } from '../capture/ports';
import type { Input } from '../input/open';
import { ProtocolError } from '../protocol/load';
import { compileProtocol, findProtocolByName, loadProtocol, type Protocol } from '../protocol/protocol';
import { say } from './output';

/** A ProtocolError (file:line:col problems) as the CLI's input error, exit 2. */
function asInputError(spec: string, e: unknown): never {
  if (e instanceof ProtocolError) throw new GamesniffError('PROTOCOL', `protocol ${spec}:\n${e.message}`);
  throw e;
}

/** Load -p PROTOCOL; a broken file is an input error (exit 2) listing file:line:col problems. */
export function protocolOption(spec: string | undefined): Protocol | null {
  if (!spec) return null;
  try {
    return loadProtocol(spec);
  } catch (e) {
    asInputError(spec, e);
  }
}

/**
 * The protocol to decode an input with. -p when given (with a note when a recording was made with
 * another description). Otherwise, for a recording made with a protocol: the description it holds
 * (a recording is self-contained), with a note when the file of that name under protocols/ has
 * changed since; a recording made before descriptions were embedded: the file of that name under
 * protocols/ (never a path from the recording).
 */
export function protocolForInput(spec: string | undefined, input: Input | null): Protocol | null {
  const recorded = input?.kind === 'recording' ? input.recording.header.protocol : null;
  if (spec) {
    const p = protocolOption(spec)!;
    if (recorded && recorded.hash !== p.hash) say(`note: decoding with ${p.file} (-p); ${input!.name} was recorded with ${recorded.name === p.name ? 'another version of it' : `protocol ${recorded.name}`}`);
    return p;
  }
  if (!recorded) return null;
  const file = findProtocolByName(recorded.name);
  if (recorded.text !== undefined) {
    const label = `${input!.name}#protocol`;
    let p: Protocol;
    try {
      p = compileProtocol(recorded.text, label);
    } catch (e) {
      asInputError(label, e);
    }
    if (file && hashOf(file) !== recorded.hash) say(`note: ${file} has changed since ${input!.name} was recorded; decoding with the description the recording holds (-p ${recorded.name} to use the file)`);
    return p;
  }
  if (!file) throw new GamesniffError('INPUT', `${input!.name} was recorded with protocol ${recorded.name}, which is not under protocols/ and not in the recording: give -p PROTOCOL`);
  const p = protocolOption(file)!;
  if (p.hash !== recorded.hash) say(`note: ${p.file} has changed since ${input!.name} was recorded with it`);
  return p;
}

/** sha256 of a description file, as Protocol.hash computes it. */
function hashOf(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file, 'utf8')).digest('hex');
  } catch {
    return '';
  }
}

/** --port as given, else the ports the protocol file declares. */
export function portsWithDefault(given: string[], protocol: Protocol | null): PortSpec {
  if (given.length || !protocol) return parsePorts(given);
  const ports = [...(protocol.tcp?.ports ?? []), ...(protocol.udp?.ports ?? [])];
  return parsePorts(ports.map(String));
}
