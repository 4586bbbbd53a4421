/**
 * A worker thread running a module of this package: the compiled `.js` beside the caller, or, when the caller
 * itself runs from sources (tests, `npx tsx`), the `.ts` file through tsx, since a worker thread does not inherit
 * tsx's loader.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

/** `entry` is the module's path relative to `callerUrl` (the caller's import.meta.url), written with `.js`. */
export function startModuleWorker(callerUrl: string, entry: string, options: WorkerOptions = {}): Worker {
  if (!fileURLToPath(callerUrl).endsWith('.ts')) return new Worker(new URL(entry, callerUrl), options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const source = new URL(entry.replace(/\.js$/, '.ts'), callerUrl).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
