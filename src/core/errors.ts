// Errors meant for the operator: the CLI prints their message alone (no stack) and exits with
// their code. Anything else that escapes is a bug and is reported as such.
export class GodwitError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GodwitError';
    this.exitCode = exitCode;
  }
}

/** The image on disk is damaged, truncated, foreign or from an incompatible version. */
export class ImageError extends GodwitError {
  constructor(file: string, what: string) {
    super(`image ${file}: ${what}`, 3);
    this.name = 'ImageError';
  }
}

/** Something in the process tree that godwit cannot checkpoint; the tree is left running. */
export class UnsupportedError extends GodwitError {
  constructor(message: string) {
    super(message, 4);
    this.name = 'UnsupportedError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A PID or thread ID the tree needs is taken where it is restored: a new PID namespace would do. */
export class PidTakenError extends GodwitError {
  constructor(message: string) {
    super(message, 6);
    this.name = 'PidTakenError';
  }
}
