import { GamesniffError } from '../core/errors';
import { LINKTYPE } from './linktypes';
import { loadNative, type NativeBpfFilter } from './live';

/**
 * BPF for capture files: the same expressions, compiler and semantics as a
 * live capture (libpcap's pcap_compile on a pcap_open_dead handle, then
 * pcap_offline_filter per packet), through gamesniff's patched binding.
 *
 * The native module is loaded on the first non-empty expression, never at
 * import: reading files without a filter needs no libpcap.
 */

/** libpcap's snaplen, as live captures use. */
const SNAPLEN = 262144;

/** What pcap_open_dead wants (a DLT_ value) for a LINKTYPE_ value as files and live captures report it. */
export function dltForLinkType(linkType: number, dltRaw: number): number {
  switch (linkType) {
    case LINKTYPE.RAW: // 101 in files
    case LINKTYPE.RAW_DLT: // 12, DLT_RAW as Linux reports it live
    case LINKTYPE.RAW_DLT_OPENBSD: // 14
      return dltRaw;
    default:
      // NULL 0, ETHERNET 1, PPP 9, LOOP 108, LINUX_SLL 113, IPV4 228, IPV6 229, LINUX_SLL2 276: same numbers
      return linkType;
  }
}

export type PacketFilter = (packet: Buffer, origLen: number) => boolean;

const matchAll: PacketFilter = () => true;

/**
 * Compiles `expr` for packets of `linkType` (a pcap LINKTYPE_ value). The
 * returned test is one native call per packet, allocating nothing. An empty
 * expression matches everything and loads nothing native.
 * Throws GamesniffError('USAGE', 'bad capture filter "...": <libpcap's message>'),
 * or GamesniffError('CAPTURE') when the native binding is not built.
 */
export function compileOfflineFilter(expr: string, linkType: number): PacketFilter {
  if (expr.trim() === '') return matchAll;
  const nat = loadNative();
  let f: NativeBpfFilter;
  try {
    f = new nat.BpfFilter(expr, dltForLinkType(linkType, nat.DLT_RAW), SNAPLEN);
  } catch (e) {
    throw new GamesniffError('USAGE', `bad capture filter "${expr}": ${(e as Error).message}`);
  }
  // the native program is freed with `f`, when the returned function is collected
  return (packet, origLen) => f.match(packet, origLen);
}

export type OfflineFilter = (linkType: number, packet: Buffer, origLen: number) => boolean;

/**
 * `expr` compiled once per link type met (a pcapng file may mix them), on
 * first use. Nothing is compiled, and a bad expression is not reported,
 * until a packet arrives: call compileOfflineFilter first to check it early.
 */
export function offlineFilter(expr: string): OfflineFilter {
  if (expr.trim() === '') return () => true;
  const byLinkType = new Map<number, PacketFilter>();
  let lastType = -1;
  let last: PacketFilter = matchAll;
  return (linkType, packet, origLen) => {
    if (linkType !== lastType) {
      let f = byLinkType.get(linkType);
      if (!f) {
        f = compileOfflineFilter(expr, linkType);
        byLinkType.set(linkType, f);
      }
      last = f;
      lastType = linkType;
    }
    return last(packet, origLen);
  };
}
