/**
 * The training-parity harness's one-thread variant (parity.ts): a wasm engine's thread count is fixed when it
 * starts, so the variant gets an engine of its own, started on one thread in this worker, and replays the same
 * batches from the same weights as the main thread's engine on the machine's cores.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ensureBackend, setThreads } from '../backend/index.js';
import { type ReplayJob, replayOnEngine } from './parity.js';

setThreads(1);
await ensureBackend('wasm');
await replayOnEngine('wasm-1-thread', workerData as ReplayJob, {
  onStep: (_side, step, steps, loss) => parentPort!.postMessage({ step, steps, loss }),
});
