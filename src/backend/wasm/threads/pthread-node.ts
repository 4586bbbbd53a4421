import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { PTHREAD_WORKER_SOURCE } from './pthread-worker-source.js';

/**
 * Starts tfjs-backend-wasm's threaded SIMD build (XNNPACK on a pthread pool, SharedArrayBuffer heap) in Node,
 * where tfjs 4.22 refuses it (tensorflow/tfjs#3830). Three things stand in the way, each bridged for the
 * duration of the backend's start-up only:
 * - tfjs's WASM_HAS_MULTITHREAD_SUPPORT flag answers false under Node: it is set to true.
 * - Emscripten starts each pthread worker from `locateFile('….worker.js')`, which tfjs answers with a `blob:`
 *   URL that Node's worker_threads refuse (ERR_WORKER_PATH): while the backend starts, URL.createObjectURL
 *   answers that one Blob (tfjs types it application/javascript) with the path of ./pthread-worker-source.ts's
 *   script, written once to the temporary directory.
 * - tfjs's C++ caps its pool at emscripten_num_logical_cores() / 2 (it assumes two hyper-threads per core),
 *   which Emscripten reads from os.cpus(): while the backend starts, os.cpus() lists 2 × threads entries.
 * Returns the function that undoes the last two.
 */
export function prepareThreadedWasm(threads: number): () => void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  const workerPath = pthreadWorkerScript();
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = (object: Blob) => (object instanceof Blob && object.type === 'application/javascript' ? workerPath : createObjectURL.call(URL, object));
  os.cpus = () => {
    const real = cpus.call(os);
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]);
  };
  return () => {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  };
}

/**
 * Puts XNNPACK's pool on one thread for good, leaving the cores to mnext's kernel pool (./pool.ts). The two
 * pools cannot share: after every XNNPACK op, pthreadpool's workers spin-wait for the next one (1,000,000
 * polls, 2–3 ms here) before they sleep, and a training step runs an XNNPACK op (an add, a multiply, the
 * stem conv) every few ms, so XNNPACK's worker held a core through most of the step and mnext's workers got
 * half of it. tfjs's init_with_threads_count creates a new pool and points XNNPACK at it; the old pool's
 * workers finish their spin and then sleep on a futex for the rest of the process.
 */
export function yieldXnnpackThreads(backend: BackendWasm): void {
  if (backend.wasm.tfjs.getThreadsCount() > 1) backend.wasm.tfjs.initWithThreadsCount(1);
}

/** Whether this Node can run the threaded build: shared memory and wasm threads (atomics) are available. */
export function threadsSupported(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** The pthread worker script's path: a content-addressed file in the temporary directory, written atomically. */
function pthreadWorkerScript(): string {
  const hash = createHash('sha256').update(PTHREAD_WORKER_SOURCE).digest('hex').slice(0, 16);
  const path = join(os.tmpdir(), `mnext-pthread-worker-${hash}.cjs`);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(partial, PTHREAD_WORKER_SOURCE);
    renameSync(partial, path);
  }
  return path;
}
