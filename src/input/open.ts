/**
 * Input chosen once: a path (or '-' for standard input) is opened a single time, its first bytes
 * say whether it is a recording or a capture, and the opened source is handed on, so that a pipe
 * is never read twice and every command accepts the same inputs.
 */
import { openBytes, type ByteSource } from '../core/byte-source';
import { looksLikeRecording, openRecording, type RecordingInput } from '../recording/reader';

export type Input =
  | { kind: 'capture'; name: string; bytes: ByteSource }
  | { kind: 'recording'; name: string; recording: RecordingInput };

export async function openInput(path: string): Promise<Input> {
  const bytes = await openBytes(path);
  try {
    if (looksLikeRecording(await bytes.head(64))) return { kind: 'recording', name: bytes.name, recording: await openRecording(bytes) };
    return { kind: 'capture', name: bytes.name, bytes };
  } catch (e) {
    bytes.close();
    throw e;
  }
}

export function closeInput(input: Input | null): void {
  if (!input) return;
  if (input.kind === 'capture') input.bytes.close();
  else input.recording.close();
}
