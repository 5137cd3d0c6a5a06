import { GamesniffError } from '../core/errors';
import type { PortSpec } from '../capture/ports';
import { parsePorts } from '../capture/ports';
import { ProtocolError } from '../protocol/load';
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

/** --port as given, else the ports the protocol file declares. */
export function portsWithDefault(given: string[], protocol: Protocol | null): PortSpec {
  if (given.length || !protocol) return parsePorts(given);
  const ports = [...(protocol.tcp?.ports ?? []), ...(protocol.udp?.ports ?? [])];
  return parsePorts(ports.map(String));
}
