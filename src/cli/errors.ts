/**
 * Errors whose message is the one sentence a user sees. The CLI maps them to exit codes (ESLint style):
 * 2 for bad usage or configuration, 1 for a check that ran and failed.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/** A check ran and failed (parity over tolerance, eval under --min-top1). */
export class CheckFailedError extends Error {
  override name = 'CheckFailedError';
  readonly exitCode = 1;
}

/** Bad input data or files (corrupt checkpoint, unreadable folder): exit code 2 with one sentence. */
export class InputError extends Error {
  override name = 'InputError';
  readonly exitCode = 2;
}

export function exitCodeOf(error: unknown): number | undefined {
  if (error instanceof UsageError || error instanceof CheckFailedError || error instanceof InputError) return error.exitCode;
  if (error instanceof Error && error.name === 'InvalidModelError') return 2;
  if (error instanceof Error && error.name === 'InterruptedError') return 130;
  return undefined;
}
