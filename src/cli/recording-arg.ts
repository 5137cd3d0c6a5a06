import { GamesniffError } from '../core/errors';
import { closeInput, openInput } from '../input/open';
import type { RecordingInput } from '../recording/reader';

/** A command's FILE argument that must be a recording: opened once, checked, header read. */
export async function openRecordingArg(file: string, otherwise: string): Promise<{ kind: 'recording'; name: string; recording: RecordingInput }> {
  const input = await openInput(file);
  if (input.kind !== 'recording') {
    closeInput(input);
    throw new GamesniffError('INPUT', `${input.name}: not a gamesniff recording (${otherwise})`);
  }
  return input;
}
