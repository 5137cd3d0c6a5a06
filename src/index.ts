/** The gamesniff library API (the CLI and TUI are built on it; it never exports them). */
export { GamesniffError } from './core/errors';
export type { Direction, Endpoint, StreamEnd, PacketCallback } from './core/types';
export { seqDiff, seqAdd } from './core/seq';
export { CaptureParser, readCaptureFile, type CaptureFileStats } from './capture/file-reader';
export { PcapWriter, PcapngWriter, type CaptureWriter } from './capture/file-writer';
export { LINKTYPE, linkTypeName } from './capture/linktypes';
export { parsePorts, buildFilter, type PortSpec } from './capture/ports';
export { LiveCapture, chooseDevice, listDevices } from './capture/live';
export { fileSource, liveSource, type CaptureSource, type SourceSummary } from './capture/source';
export { PacketDecoder, DecodedPacket, type DecodeStatus } from './decode/packet';
export { describePacket, parseTcpOptions, type PacketView } from './decode/describe';
export { Defragmenter } from './decode/defrag';
export { FlowTable, type FlowTableOptions, type FlowTableStats } from './flow/table';
export { TcpConnection, UdpFlow, type FlowListener } from './flow/connection';
export { TcpStreamAssembler, ReassemblyBudget, type StreamSink, type GapReason } from './reassembly/assembler';
export { StreamSummary, type StreamRecord } from './session/stream-summary';
