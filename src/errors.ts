/**
 * Every error a user may see. The message is the one sentence printed; `exitCode` is the process exit code the
 * CLI returns for it (ESLint style), so nothing above this file maps errors by name or message:
 * 1 a check ran and failed, 2 bad usage, configuration or input, 130 interrupted. Anything that is not an
 * MnextError is a bug in mnext: the CLI reports it as an internal error with exit code 3.
 */
export abstract class MnextError extends Error {
  abstract readonly exitCode: number;
}

/** Bad usage or configuration: an unknown flag value, a conflicting option. Exit code 2. */
export class UsageError extends MnextError {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/** Bad input data or files (corrupt checkpoint, unreadable folder, a path mnext will not overwrite). Exit code 2. */
export class InputError extends MnextError {
  override name = 'InputError';
  readonly exitCode = 2;
}

/** A model request that cannot be built (bad width, unknown name, input too small). Exit code 2. */
export class InvalidModelError extends MnextError {
  override name = 'InvalidModelError';
  readonly exitCode = 2;
}

/** A check ran and failed (parity over tolerance, eval under --min-top1). Exit code 1. */
export class CheckFailedError extends MnextError {
  override name = 'CheckFailedError';
  readonly exitCode = 1;
}

/** Stopped by the user (Ctrl-C, an AbortSignal); whatever could be saved was saved. Exit code 130. */
export class InterruptedError extends MnextError {
  override name = 'InterruptedError';
  readonly exitCode = 130;
}

/** The exit code an error carries, or undefined for an internal error (a bug). */
export function exitCodeOf(error: unknown): number | undefined {
  return error instanceof MnextError ? error.exitCode : undefined;
}
