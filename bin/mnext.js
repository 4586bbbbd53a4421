#!/usr/bin/env node
// Thin launcher: all behaviour lives in the library so every command is testable in-process.

// Image decodes run on libuv's thread pool, which has 4 threads unless UV_THREADPOOL_SIZE says otherwise and is
// sized once, when its first job starts; `--workers 8` would otherwise leave 4 decodes queued behind the others.
// So the variable is set here, before the CLI (and sharp, and anything that might touch the pool) is imported:
// a static import would be evaluated before this line runs.
const workersArg = process.argv.findIndex((arg) => arg === '--workers' || arg.startsWith('--workers='));
if (workersArg > 0 && process.env.UV_THREADPOOL_SIZE === undefined) {
  const arg = process.argv[workersArg];
  const workers = Number(arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : process.argv[workersArg + 1]);
  if (Number.isInteger(workers) && workers > 4) process.env.UV_THREADPOOL_SIZE = String(Math.min(workers, 1024));
}

const { execute } = await import('../dist/src/cli/main.js');
process.exitCode = await execute(process.argv);
