/**
 * One data-parallel replica: its own tfjs engine (own wasm instance), a copy of the model and of the optimiser.
 * A step computes its shard's gradients into shared memory, then updates the parameters it owns from the
 * average of every replica's gradients and copies the others' updates (shared.ts). BN running statistics stay
 * per replica, as in PyTorch DDP.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, initBackend, setThreads } from '../../backend/index.js';
import { TfjsModel } from '../../models/executor.js';
import { buildGraph } from '../../models/registry.js';
import { type Optimizer, computeGradients, disposeGradientResult } from '../step.js';
import { createOptimizer } from '../optim.js';
import type { StateDict } from '../../models/state-dict.js';
import type { FromWorker, StateDictEntries, StepPhases, StepRequest, ToWorker, WorkerAttach, WorkerInit } from './protocol.js';
import { Barrier, type ParamSlice, ownedRange, totalFloats } from './shared.js';

interface Model {
  readonly model: TfjsModel;
  readonly params: Map<string, tf.Variable>;
  readonly optimizer: Optimizer & { dispose(): void };
  readonly smoothing: number;
}

interface Attached {
  readonly rank: number;
  readonly layout: ParamSlice[];
  readonly owned: ParamSlice[];
  readonly others: ParamSlice[];
  readonly ownedRange: [number, number];
  readonly total: number;
  /** Every replica's gradient slot, workers × total floats. */
  readonly grads: Float32Array;
  readonly weights: Float32Array;
  readonly statsLayout: ParamSlice[];
  readonly stats: Float32Array;
  readonly barrier: Barrier;
}

let replica: Model | undefined;
let shared: Attached | undefined;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

async function init(message: WorkerInit): Promise<void> {
  setThreads(message.threads);
  const backend = await initBackend(message.backend);
  const model = new TfjsModel(buildGraph(message.spec), new Map(message.weights), { frozen: message.frozen });
  const params = model.trainableByName();
  const optimizer = createOptimizer(model, message.optimizer);
  if (message.optimizerState) optimizer.loadStateDict(new Map(message.optimizerState));
  replica = { model, params, optimizer, smoothing: message.smoothing };
  send({ kind: 'ready', backend, threads: backendThreads(), params: [...params].map(([name, v]) => [name, v.size]) });
}

function attach(message: WorkerAttach): void {
  shared = {
    rank: message.rank,
    layout: message.layout,
    owned: message.layout.filter((p) => p.owner === message.rank),
    others: message.layout.filter((p) => p.owner !== message.rank),
    ownedRange: ownedRange(message.layout, message.rank),
    total: totalFloats(message.layout),
    grads: new Float32Array(message.buffers.grads),
    weights: new Float32Array(message.buffers.weights),
    statsLayout: message.statsLayout,
    stats: new Float32Array(message.buffers.stats),
    barrier: new Barrier(message.buffers.control, message.workers),
  };
  // The shared buffers hold the current state from the start, not only after the first step.
  publishOwned(replica!, shared);
  publishStats(replica!, shared);
  send({ kind: 'attached' });
}

function publishOwned(r: Model, s: Attached): void {
  for (const p of s.owned) s.weights.set(r.params.get(p.name)!.dataSync() as Float32Array, p.offset);
}

/** Rank 0's running statistics into the shared buffer, for the main thread's copy of rank 0 (EMA, eval, saving). */
function publishStats(r: Model, s: Attached): void {
  if (s.rank !== 0) return;
  for (const p of s.statsLayout) s.stats.set(r.model.variables.get(p.name)!.dataSync() as Float32Array, p.offset);
}

/** Forward + backward on this replica's shard, gradients copied into its slot; an empty shard contributes zeros. */
function shardGradients(r: Model, s: Attached, request: StepRequest): { loss: number; correct: number; publish: number; stats?: ReturnType<typeof computeGradients>['batchStats'] } {
  const slot = s.rank * s.total;
  const rows = request.imageShape[0];
  if (rows === 0) {
    s.grads.fill(0, slot, slot + s.total);
    return { loss: 0, correct: 0, publish: 0 };
  }
  const images = tf.tensor4d(request.images, request.imageShape);
  const targets = tf.tensor2d(request.targets, [rows, request.numClasses]);
  const result = computeGradients(r.model, images, targets, { smoothing: r.smoothing, seed: request.seed });
  tf.dispose([images, targets]);
  const start = performance.now();
  for (const p of s.layout) {
    const grad = result.grads.get(p.name);
    if (grad) s.grads.set(grad.dataSync() as Float32Array, slot + p.offset);
    else s.grads.fill(0, slot + p.offset, slot + p.offset + p.size);
  }
  disposeGradientResult({ grads: result.grads, batchStats: new Map() });
  return { loss: result.loss, correct: result.correct, publish: performance.now() - start, stats: result.batchStats };
}

/**
 * Σ_k share_k · g_k over the owned range, in the engine (SIMD passes; a JS loop over the floats cost 3-4x as
 * much) and with the single-engine DDP sum's ops in rank order, so the average has that sum's bits: training
 * amplifies one-ulp differences within a few steps on small batches. Returns the floats on the host.
 */
function averagedOwnedGradients(s: Attached, shares: readonly number[]): Float32Array {
  const [start, end] = s.ownedRange;
  if (start === end) return new Float32Array(0);
  const sum = tf.tidy(() => shares.reduce<tf.Tensor | undefined>((acc, share, k) => {
    if (share === 0) return acc;
    // The tensor only lives inside this tidy, before any replica writes the slots again, so a view will do.
    const term = tf.mul(tf.tensor1d(s.grads.subarray(k * s.total + start, k * s.total + end)), share);
    return acc ? tf.add(acc, term) : term;
  }, undefined) ?? tf.zeros([end - start]));
  const floats = sum.dataSync() as Float32Array;
  sum.dispose();
  return floats;
}

/** The optimiser step on the parameters this replica owns, and their new values published for the others. */
function updateOwned(r: Model, s: Attached, request: StepRequest): void {
  const averaged = averagedOwnedGradients(s, request.shardWeights);
  const base = s.ownedRange[0];
  const grads = new Map(s.owned.map((p) => [p.name, tf.tensor(averaged.subarray(p.offset - base, p.offset - base + p.size), r.params.get(p.name)!.shape)]));
  r.optimizer.apply(grads, request.lr);
  tf.dispose([...grads.values()]);
  publishOwned(r, s);
}

/** Copies the other replicas' updated parameters in (a copy: some backends keep the array they are given). */
function loadOthers(r: Model, s: Attached): void {
  for (const p of s.others) {
    const variable = r.params.get(p.name)!;
    tf.tidy(() => variable.assign(tf.tensor(s.weights.slice(p.offset, p.offset + p.size), variable.shape)));
  }
}

function step(request: StepRequest): void {
  const r = replica!;
  const s = shared!;
  let last = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - last;
    last = now;
    return ms;
  };
  const { loss, correct, publish, stats } = shardGradients(r, s, request);
  const gradients = lap() - publish;
  s.barrier.wait();
  const waitGradients = lap();
  updateOwned(r, s, request);
  const update = lap();
  // Local work that needs no one else's data, done before the barrier so it hides the slower replica's update.
  if (stats) {
    r.model.updateRunningStats(stats);
    disposeGradientResult({ grads: new Map(), batchStats: stats });
  }
  publishStats(r, s);
  const runningStats = lap();
  s.barrier.wait();
  const waitWeights = lap();
  loadOthers(r, s);
  const phases: StepPhases = { gradients, publishGradients: publish, waitGradients, update, runningStats, waitWeights, loadWeights: lap() };
  send({ kind: 'stepped', loss, correct, numTensors: tf.memory().numTensors, phases });
}

function entries(state: StateDict): StateDictEntries {
  return [...state].map(([n, t]) => [n, { shape: [...t.shape], data: t.data }]);
}

function stateDict(): void {
  send({ kind: 'stateDict', weights: entries(replica!.model.stateDict()) });
}

/** Slots are keyed `<slot>/<param>` (optim.ts); the counters (no '/') are the same in every replica. */
function optimizerState(): void {
  const owned = new Set(shared!.owned.map((p) => p.name));
  const mine = [...replica!.optimizer.stateDict()].filter(([key]) => !key.includes('/') || owned.has(key.slice(key.indexOf('/') + 1)));
  send({ kind: 'optimizerState', state: entries(new Map(mine)) });
}

parentPort!.on('message', (message: ToWorker) => {
  const handle = async () => {
    if (message.kind === 'init') await init(message.init);
    else if (message.kind === 'attach') attach(message.attach);
    else if (message.kind === 'step') step(message.step);
    else if (message.kind === 'optimizerState') optimizerState();
    else stateDict();
  };
  handle().catch((error: unknown) => {
    // Release the replicas waiting at a barrier for this one; the trainer is unusable after a failed step.
    shared?.barrier.abort();
    send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  });
});
