import { Option } from 'commander';
import { KeyLog } from '../conversation/keylog';
import type { TcpConnection, UdpFlow } from '../flow/connection';

export const keylogOption = (): Option =>
  new Option('--keylog <file>', "keys the traffic does not show, per connection: lines of 'CLIENT_ADDR:PORT NAME HEX' (as the test game's --keylog writes; read as it grows)");

/** The state a connection starts with from a key log (by its client's address and port), or nothing without one. */
export function keysFromLog(file: string | undefined): ((flow: TcpConnection | UdpFlow) => Record<string, unknown> | undefined) | undefined {
  if (!file) return undefined;
  const log = new KeyLog(file);
  return (flow) => log.keysFor(flow.client);
}
