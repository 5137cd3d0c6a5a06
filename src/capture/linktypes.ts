/** Link-layer header types (tcpdump.org/linktypes.html) that the decoder understands. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  RAW_DLT: 12, // DLT_RAW as libpcap reports it live on most systems
  RAW_DLT_OPENBSD: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const NAMES: Record<number, string> = {
  0: 'NULL (BSD loopback)',
  1: 'ETHERNET',
  6: 'IEEE802_5 (Token Ring)',
  8: 'SLIP',
  9: 'PPP',
  10: 'FDDI',
  12: 'RAW',
  14: 'RAW',
  50: 'PPP_HDLC',
  51: 'PPPOE',
  101: 'RAW',
  104: 'C_HDLC',
  105: 'IEEE802_11 (Wi-Fi)',
  108: 'LOOP (OpenBSD loopback)',
  113: 'LINUX_SLL',
  119: 'IEEE802_11_PRISM',
  127: 'IEEE802_11_RADIOTAP',
  147: 'USER0',
  187: 'BLUETOOTH_HCI_H4',
  189: 'USB_LINUX',
  195: 'IEEE802_15_4',
  201: 'BLUETOOTH_HCI_H4_WITH_PHDR',
  220: 'USB_LINUX_MMAPPED',
  228: 'IPV4',
  229: 'IPV6',
  249: 'NETLINK',
  253: 'NFLOG',
  276: 'LINUX_SLL2',
};

export function linkTypeName(t: number): string {
  return NAMES[t] ?? `unknown (${t})`;
}

export function isSupportedLinkType(t: number): boolean {
  switch (t) {
    case LINKTYPE.NULL:
    case LINKTYPE.ETHERNET:
    case LINKTYPE.PPP:
    case LINKTYPE.RAW_DLT:
    case LINKTYPE.RAW_DLT_OPENBSD:
    case LINKTYPE.RAW:
    case LINKTYPE.LOOP:
    case LINKTYPE.LINUX_SLL:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
    case LINKTYPE.LINUX_SLL2:
      return true;
    default:
      return false;
  }
}
