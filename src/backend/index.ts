import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../errors.js';
import './gradients.js';
import { registerWasmTrainingKernels } from './wasm/register.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeKernelThreads, setActiveKernelThreads, setKernelThreads } from './wasm/simd/index.js';
import { prepareThreadedWasm, threadsSupported } from './wasm/threads/pthread-node.js';

const TFJS_NODE: string = '@tensorflow/tfjs-node';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

const INSTALL_HINT: Record<BackendName, string> = {
  tensorflow: 'install it with `npm install @tensorflow/tfjs-node` (its install step downloads libtensorflow)',
  wasm: 'reinstall dependencies with `npm ci` (@tensorflow/tfjs-backend-wasm)',
  cpu: 'reinstall dependencies with `npm ci` (@tensorflow/tfjs-backend-cpu)',
};

/** Backend-specific set-up that must run before a backend is first used (kernel registration, wasm paths). */
const setupHooks: ((name: BackendName) => Promise<void>)[] = [];

export function onBackendSetup(hook: (name: BackendName) => Promise<void>): void {
  setupHooks.push(hook);
}

// The wasm backend lacks the conv backprop-filter and depthwise backprop kernels training needs.
onBackendSetup(async (name) => {
  if (name === 'wasm') registerWasmTrainingKernels();
});

async function loadBackendModule(name: BackendName): Promise<boolean> {
  try {
    // A variable specifier: tfjs-node is optional and may be absent at type-check time too.
    if (name === 'tensorflow') await import(TFJS_NODE);
    if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
    return tf.findBackendFactory(name) !== null;
  } catch {
    return false;
  }
}

let requestedThreads: number | undefined;
let startedThreads = 1;

/**
 * `--threads`: intra-op threads for the wasm backend (XNNPACK's pool and mnext's kernels), default the machine's
 * cores. Takes effect when the wasm backend starts, so call it before the first computation.
 */
export function setThreads(threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new UsageError(`--threads: expected a positive integer, got '${threads}'`);
  }
  requestedThreads = threads;
}

/** Threads per engine when `engines` engines (data-parallel replicas) share the machine's cores. */
export function defaultThreads(engines = 1): number {
  return Math.max(1, Math.floor(availableParallelism() / engines));
}

/**
 * Intra-op threads of the backend in use: those the wasm backend started with, 1 for cpu, and for tfjs-node
 * TF_NUM_INTRAOP_THREADS (0: its own choice).
 */
export function backendThreads(): number {
  const backend = tf.getBackend();
  if (backend === 'tensorflow') return Number(process.env.TF_NUM_INTRAOP_THREADS ?? 0) || 0;
  return backend === 'wasm' ? startedThreads : 1;
}

async function setBackend(name: BackendName): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * The wasm backend on `threads` threads when this Node has shared memory (./wasm/threads), else on one. A
 * threaded start that fails falls back to the single-threaded build.
 */
async function startWasm(): Promise<boolean> {
  const threads = requestedThreads ?? defaultThreads();
  if (threads > 1 && threadsSupported()) {
    const restore = prepareThreadedWasm(threads);
    const started = await setBackend('wasm').finally(restore);
    if (started) {
      startedThreads = threads;
      setKernelThreads(threads);
      unrefPthreads();
      return true;
    }
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  startedThreads = 1;
  return setBackend('wasm');
}

/** Emscripten refs a pthread's worker while the thread runs: XNNPACK's pool threads must not keep Node alive. */
function unrefPthreads(): void {
  type PThreads = { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] };
  const pthreads = (tf.backend() as unknown as { wasm: { PThread?: PThreads } }).wasm.PThread;
  for (const worker of [...(pthreads?.runningWorkers ?? []), ...(pthreads?.unusedWorkers ?? [])]) worker.unref();
}

/**
 * Threads the engine's convs run on now: on wasm, those of mnext's kernel pool in use (`useComputeThreads`),
 * elsewhere backendThreads().
 */
export function computeThreads(): number {
  return tf.getBackend() === 'wasm' ? activeKernelThreads(tf.backend() as BackendWasm) : backendThreads();
}

/**
 * Runs the wasm engine's convs (mnext's kernels, of training and inference) on `threads` of the threads it
 * started with from now on, without starting another pool: the inference benchmark picks its thread count
 * this way. On other backends only the count they run on is accepted.
 */
export function useComputeThreads(threads: number): void {
  if (tf.getBackend() === 'wasm') setActiveKernelThreads(tf.backend() as BackendWasm, threads);
  else if (threads !== backendThreads()) throw new Error(`the ${tf.getBackend()} backend runs on ${backendThreads()} threads, not ${threads}`);
}

async function tryBackend(name: BackendName): Promise<boolean> {
  if (!(await loadBackendModule(name))) return false;
  for (const hook of setupHooks) await hook(name);
  return name === 'wasm' ? startWasm() : setBackend(name);
}

/**
 * Selects the engine: the requested one (an error naming how to install it if it cannot load) or the first
 * that loads of tensorflow > wasm > cpu. Returns the backend actually in use so callers can print it.
 */
export async function initBackend(requested?: string): Promise<BackendName> {
  // PROD silences tfjs's "install tfjs-node" banner on stdout-adjacent streams; backend choice is printed by us.
  tf.env().set('PROD', true);
  if (requested !== undefined) {
    if (!BACKENDS.includes(requested as BackendName)) {
      throw new UsageError(`--backend: expected one of ${BACKENDS.join(', ')}, got '${requested}'`);
    }
    const name = requested as BackendName;
    if (tf.getBackend() === name && tf.findBackendFactory(name)) return name;
    if (!(await tryBackend(name))) throw new UsageError(`backend '${name}' cannot be loaded here; ${INSTALL_HINT[name]}`);
    return name;
  }
  for (const name of BACKENDS) {
    if (await tryBackend(name)) return name;
  }
  throw new UsageError('no tfjs backend could be loaded; reinstall dependencies with `npm ci`');
}

/** The backend whose set-up hooks ran last (see `ensureBackend`). */
let ensured: BackendName | undefined;

/**
 * The library's lazy set-up, run by every API call that computes: the requested backend; else the one in use
 * (one the caller chose with tf.setBackend keeps being used, with mnext's kernels added); else `initBackend`'s pick.
 */
export async function ensureBackend(requested?: string): Promise<BackendName> {
  const current = tf.getBackend() as BackendName | null;
  if (requested !== undefined || current === null || !BACKENDS.includes(current)) {
    ensured = await initBackend(requested);
    return ensured;
  }
  if (current !== ensured) {
    for (const hook of setupHooks) await hook(current);
    ensured = current;
  }
  return current;
}

export function currentBackend(): string {
  return tf.getBackend();
}
