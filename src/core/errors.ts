/**
 * Errors that reach the user carry a code and the process exit code that goes
 * with it (DESIGN.md: 0 ok, 1 divergence or failed check, 2 usage or input error).
 */
export type ErrorCode =
  | 'USAGE'
  | 'INPUT'
  | 'TRUNCATED'
  | 'LINKTYPE'
  | 'PRIVILEGE'
  | 'CAPTURE'
  | 'PROTOCOL'
  | 'FAILED';

export class GamesniffError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, exitCode = 2) {
    super(message);
    this.name = 'GamesniffError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export function isGamesniffError(e: unknown): e is GamesniffError {
  return e instanceof GamesniffError;
}

/** A value that cannot be encoded (a message, a frame, a transform's input), with the field path when there is one. */
export class EncodeError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}
