/**
 * The gamesniff library API, by pipeline stage, lowest first (the CLI and the UI are built on it;
 * it never exports them).
 */

// core: errors with exit codes, shared types, sequence numbers, the seeded generator
export { EncodeError, GamesniffError } from './core/errors';
export { packetViews, type Direction, type Endpoint, type StreamEnd, type PacketCallback, type PacketAtCallback } from './core/types';
export { seqDiff, seqAdd } from './core/seq';
export { Rng, mulberry32 } from './core/rng';

// capture: files, live devices, writers
export { CaptureParser, readCaptureFile, readCaptureFileAt, type CaptureFileStats, type ReadCaptureOptions } from './capture/file-reader';
export { PcapWriter, PcapngWriter, type CaptureWriter } from './capture/file-writer';
export { LINKTYPE, linkTypeName } from './capture/linktypes';
export { parsePorts, buildFilter, type PortSpec } from './capture/ports';
export { LiveCapture, chooseDevice, listDevices } from './capture/live';
export { fileSource, liveSource, type CaptureSource, type SourceSummary } from './capture/source';

// packet: link, IP (and fragments), TCP, UDP headers
export { PacketDecoder, DecodedPacket, type DecodeStatus } from './packet/packet';
export { describePacket, parseTcpOptions, type PacketView } from './packet/describe';
export { Defragmenter } from './packet/defrag';
export { buildIpPacket, inetChecksum } from './packet/build';

// reassembly and flows: connections as records, the table that owns their assemblers
export { TcpStreamAssembler, ReassemblyBudget, newDirectionFacts, type DirectionFacts, type StreamSink, type GapReason } from './reassembly/assembler';
export { FlowTable, type FlowTableOptions, type FlowTableStats } from './flow/table';
export { TcpConnection, UdpFlow, toFacts, applyFacts, type FlowListener, type StreamFacts } from './flow/connection';
export { FlowTee } from './flow/tee';

// framing and transforms: how a byte stream becomes frames, and what is done to bytes on the way
export { createFramer, type Framer, type FrameSink } from './framing/framers';
export { wrapFrame, type FramingSpec, type FrameHeaderCodec } from './framing/spec';
export { readCounter, writeCounter, type Counter } from './framing/counter';
export { readWsHeader, writeWsFrame, unmaskInPlace, WS_MESSAGES, type WsFrameHeader } from './framing/websocket';
export { transformKind, transformNames, argsProblem, TransformError, type Transform, type TransformKind, type TransformArgs, type Place } from './transform/registry';

// protocol descriptions: load, check, compile; the message codec
export { loadProtocol, compileProtocol, listProtocols, resolveProtocolPath, Protocol, Transport, type DecodedMessage, type EncodeOptions } from './protocol/protocol';
export { ProtocolError, parseProtocol } from './protocol/load';
export { parseExpr, evaluate, ExprError, type Expr } from './protocol/expr';
export { DecodeError, type Span } from './protocol/runtime';
export { diffValues, valueDiffs, type ValueDiff } from './protocol/diff';

// the conversation: one per connection, every layer both ways; vectors; key logs
export { Conversation, type ConversationMessage, type ConversationOptions } from './conversation/conversation';
export { runVectorFile, runVector, loadVectors } from './conversation/vectors';
export { KeyLog, parseKeyLog, keyLogLine } from './conversation/keylog';
export { acceptFor, parseDeflate, parseHttpHead, upgradeAnswer, upgradeRequest, WS_VOLATILE } from './conversation/websocket';

// the client side: a peer over a socket, a client and a mock server from a description
export { Peer, type PeerMessage, type PeerOptions, type MessageListener } from './client/peer';
export { openClient, serve, Client, Server, type ClientOptions, type ServeOptions } from './client/open';
export { Typed, senders, type TypedPeer, type Received, type Senders } from './client/typed';

// sessions: the flow table's events as messages, summaries, coverage
export { MessageDecoder, type Message, type MessageSink } from './session/messages';
export { StreamSummary, type StreamRecord } from './session/stream-summary';
export { Coverage } from './session/coverage';

// recordings: write, read, play back, export
export { RecordingWriter, Recorder } from './recording/writer';
export { openRecording, readRecording, looksLikeRecording, type RecordingInput, type RecordingReadResult } from './recording/reader';
export { playRecording, RecordingPlayer } from './recording/player';
export { exportPcapng, type ExportResult } from './recording/export';

// input: chosen once, fed once
export { openInput, closeInput, type Input } from './input/open';
export { feed, selectPorts, type Feed, type FeedOptions, type FeedResult } from './input/feed';

// replay: a recording against a live peer
export { loadScript, type ReplayScript, type ScriptMessage } from './replay/script';
export { ReplayEngine, type ReplayOptions, type ReplayReport, type Divergence } from './replay/engine';
export { runReplay, parseHostPort, type HostPort } from './replay/sockets';
export { reportLines, reportJson } from './replay/report';

// proxy scripts: the hooks' types (a generated module's `Script` is ProxyScript<Messages>)
export type { ProxyScript, ProxyContext, ProxyMessage, MessageTypes, AnyMessages } from './proxy/script';

// the test game
export { GameServer, type GameServerOptions } from './testbed/game-server';
export { runGameClient, type GameClientOptions } from './testbed/game-client';
export { WsGameServer, runWsGameClient, type WsGameServerOptions, type WsGameClientOptions } from './testbed/ws-game';
