import { GamesniffError } from '../core/errors';
import type { PortSpec } from '../capture/ports';
import { parsePorts } from '../capture/ports';
import { ProtocolError } from '../protocol/load';
import { isRecordingFile, readRecordingHeader } from '../recording/reader';
import { loadProtocol, type Protocol } from '../protocol/protocol';

/** Load -p PROTOCOL; a broken file is an input error (exit 2) listing file:line:col problems. */
export function protocolOption(spec: string | undefined): Protocol | null {
  if (!spec) return null;
  try {
    return loadProtocol(spec);
  } catch (e) {
    if (e instanceof ProtocolError) throw new GamesniffError('PROTOCOL', `protocol ${spec}:\n${e.message}`);
    throw e;
  }
}

/**
 * -p when given; otherwise, for a recording made with a protocol, that protocol by name (with a
 * note on stderr when the file has changed since, as decoding may then differ).
 */
export function protocolForInput(spec: string | undefined, read: string | undefined): Protocol | null {
  if (spec) return protocolOption(spec);
  if (!read || !isRecordingFile(read)) return null;
  const recorded = readRecordingHeader(read).protocol;
  if (!recorded) return null;
  const p = protocolOption(recorded.name);
  if (p && p.hash !== recorded.hash) process.stderr.write(`note: ${p.file} has changed since ${read} was recorded with it\n`);
  return p;
}

/** --port as given, else the ports the protocol file declares. */
export function portsWithDefault(given: string[], protocol: Protocol | null): PortSpec {
  if (given.length || !protocol) return parsePorts(given);
  const ports = [...(protocol.tcp?.ports ?? []), ...(protocol.udp?.ports ?? [])];
  return parsePorts(ports.map(String));
}
