/**
 * How a training run uses the machine's cores: one engine on every core, or data-parallel replicas each on a
 * share of them. Which is faster depends on the workload (threads win at small batches, where a replica's shard
 * is too small to keep its core busy; replicas can win at large batches, where the exchange is cheap next to a
 * step), so `mnext train` and `mnext bench train` time real steps of each candidate on random data, in turns.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, defaultThreads } from '../backend/index.js';
import { TfjsModel } from '../models/executor.js';
import type { ModelGraph } from '../models/graph.js';
import { initStateDict } from '../models/weights.js';
import { timeAlternating } from '../util/alternating.js';
import { Rng } from '../util/random.js';
import { type OptimizerOptions, createOptimizer } from './optim.js';
import { ParallelTrainer } from './parallel/trainer.js';
import { computeGradients, disposeGradientResult } from './step.js';

/** An arrangement of the machine's cores: data-parallel replicas, each an engine on `threads` threads. */
export interface Arrangement {
  readonly replicas: number;
  readonly threads: number;
}

/** What the probe measured of one candidate: the median of its timed steps, and how many it timed. */
export interface ProbedArrangement extends Arrangement {
  readonly msPerStep: number;
  readonly steps: number;
}

/** The arrangement picked and what each candidate's probe measured (empty when there was one candidate). */
export interface PickedArrangement extends Arrangement {
  readonly probed: readonly ProbedArrangement[];
}

/** What one training step computes: the model (its frozen tensors left as they are), the batch, optimiser and loss. */
export interface TrainingWorkload {
  readonly graph: ModelGraph;
  readonly batch: number;
  readonly optimizer: OptimizerOptions;
  readonly smoothing: number;
  readonly frozen?: readonly string[];
  /** The replicas' backend (the main engine's is the one in use). */
  readonly backend: string;
}

/** Training steps of a workload on random data where an arrangement runs them; call `close` when done. */
export interface ArrangedSteps extends Arrangement {
  /** One optimiser step (step `i` seeds the dropout masks); resolves to the tensors alive after it, over every engine. */
  step(i: number): Promise<number>;
  close(): Promise<void>;
}

const SEED = 42;
const LR = 0.05;

/** Random normal images and one-hot targets for one batch, from the project's seedable generator. */
export function randomTrainingBatch(batch: number, size: number, classes: number, seed: number): { images: Float32Array; targets: Float32Array } {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: batch * size * size * 3 }, () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
  const targets = new Float32Array(batch * classes);
  for (let i = 0; i < batch; i++) targets[i * classes + rng.int(0, classes - 1)] = 1;
  return { images, targets };
}

function batchOf(workload: TrainingWorkload): { images: Float32Array; targets: Float32Array; shape: [number, number, number, number] } {
  const { inputSize, numClasses } = workload.graph.spec;
  return { ...randomTrainingBatch(workload.batch, inputSize, numClasses, SEED), shape: [workload.batch, inputSize, inputSize, 3] };
}

/** The main thread's engine, on the threads it started with. */
function mainEngineSteps(workload: TrainingWorkload): ArrangedSteps {
  const model = new TfjsModel(workload.graph, initStateDict(workload.graph, SEED), { frozen: workload.frozen });
  const optimizer = createOptimizer(model, workload.optimizer);
  const batch = batchOf(workload);
  const images = tf.tensor4d(batch.images, batch.shape);
  const targets = tf.tensor2d(batch.targets, [workload.batch, workload.graph.spec.numClasses]);
  return {
    replicas: 1,
    threads: backendThreads(),
    step: async (i) => {
      const result = computeGradients(model, images, targets, { smoothing: workload.smoothing, seed: SEED + i });
      optimizer.apply(result.grads, LR);
      model.updateRunningStats(result.batchStats);
      disposeGradientResult(result);
      return tf.memory().numTensors;
    },
    close: async () => {
      tf.dispose([images, targets]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

async function replicaSteps(workload: TrainingWorkload, replicas: number, threads: number | undefined): Promise<ArrangedSteps> {
  const trainer = await ParallelTrainer.start({
    workers: replicas, threads, backend: workload.backend, graph: workload.graph, weights: initStateDict(workload.graph, SEED),
    optimizer: workload.optimizer, smoothing: workload.smoothing, frozen: workload.frozen,
  });
  const { images, targets, shape } = batchOf(workload);
  return {
    replicas,
    threads: trainer.threads,
    step: async (i) => (await trainer.step(images, shape, targets, LR, SEED + i)).numTensors.reduce((a, b) => a + b, 0),
    close: () => trainer.close(),
  };
}

/**
 * Steps of `workload` on `replicas` engines: 1 is the main thread's engine (on the threads it started with),
 * more are worker threads on `threads` each (default: the cores shared out).
 */
export function startArrangedSteps(workload: TrainingWorkload, replicas: number, threads?: number): Promise<ArrangedSteps> {
  return replicas === 1 ? Promise.resolve(mainEngineSteps(workload)) : replicaSteps(workload, replicas, threads);
}

export interface StepTiming {
  readonly msPerStep: number;
  /** Tensors alive after the warm-up (after the first step when there is none) and after the last step. */
  readonly tensorsBefore: number;
  readonly tensorsAfter: number;
}

/** `warmup` untimed steps, then `steps` timed ones (with no warm-up, the first step is timed too). */
export async function timeSteps(arranged: ArrangedSteps, warmup: number, steps: number, onStep?: (done: number, total: number) => void): Promise<StepTiming> {
  const total = warmup + steps;
  let tensorsBefore = 0;
  let tensorsAfter = 0;
  let start = performance.now();
  for (let i = 0; i < total; i++) {
    if (i === warmup) start = performance.now();
    tensorsAfter = await arranged.step(i);
    if (i === Math.max(0, warmup - 1)) tensorsBefore = tensorsAfter;
    onStep?.(i + 1, total);
  }
  return { msPerStep: (performance.now() - start) / (warmup === 0 ? total : steps), tensorsBefore, tensorsAfter };
}

/**
 * How long the probe times each candidate: turns of at least 300 ms, until every candidate has 1.5 s and 3 steps
 * timed. A single step at 64 px swings 100–155 ms between runs on an idle 2-core machine, and 3 steps in a row
 * per candidate sometimes picked 2 replicas where one engine on 2 threads is about 1.3x faster; these turns
 * picked the engine in 15 of 16 probes here (the 16th while every step took 3–6x longer). The whole probe
 * (engines started, MobileNeXt-1.0, this 2-core machine): 5–8 s at 64 px batch 16 (6–12 steps timed each),
 * 7.6 s at 32 px batch 128 (4 each), 33 s at 224 px batch 16 (2.2 s steps: the 3-step minimum, 8 steps in all
 * with the warm-ups).
 */
export const PROBE_LIMITS = { budgetMs: 1500, minSteps: 3, turnMs: 300, maxRounds: Infinity } as const;

/**
 * Values per channel that every replica's batch norms must see on the model's smallest feature map for replicas
 * to be a candidate: replicas compute BN statistics over their shard only, and MobileNeXt-0.35 at 32 px (1x1
 * last maps) diverges with shards of 3 images and trains with shards of 6 (test/train/replicas.test.ts).
 */
const MIN_SHARD_BN_VALUES = 16;

/** H·W of the smallest feature map a batch norm normalises (Infinity for a model without any). */
function smallestBnArea(graph: ModelGraph): number {
  return Math.min(...graph.nodes.filter((n) => n.op === 'batchnorm' && n.shape.length === 3).map((n) => n.shape[0] * n.shape[1]), Infinity);
}

/**
 * The candidates for a workload: one engine on the threads the main engine runs on, and, on a machine with more
 * than one core and a batch whose shards keep the batch norms' statistics sound (MIN_SHARD_BN_VALUES), one
 * single-threaded replica per core.
 */
export function arrangementCandidates(workload: Pick<TrainingWorkload, 'graph' | 'batch'>): Arrangement[] {
  const cores = defaultThreads();
  const oneEngine = { replicas: 1, threads: backendThreads() };
  const shard = Math.floor(workload.batch / cores);
  return cores > 1 && shard > 0 && shard * smallestBnArea(workload.graph) >= MIN_SHARD_BN_VALUES ? [oneEngine, { replicas: cores, threads: 1 }] : [oneEngine];
}

/**
 * The fastest arrangement for this training workload: every candidate (`arrangementCandidates`) started, then
 * timed in alternating turns after one warm-up step each (PROBE_LIMITS), ranked by its median step time; no
 * probe when there is one candidate. Every engine a probe starts is closed and every tensor it makes is freed.
 * The candidates are open at once, which this relies on memory for: at 224 px batch 16 one engine holds about
 * 2.5 GB and two replicas 2 GB between them, 4.5 GB together (the 2-core machine it was tuned on has 24 GB).
 */
export async function fastestArrangement(workload: TrainingWorkload): Promise<PickedArrangement> {
  const candidates = arrangementCandidates(workload);
  if (candidates.length === 1) return { ...candidates[0], probed: [] };
  const opened: ArrangedSteps[] = [];
  try {
    for (const candidate of candidates) opened.push(await startArrangedSteps(workload, candidate.replicas, candidate.threads));
    const timings = await timeAlternating(opened, PROBE_LIMITS);
    const probed = opened.map(({ replicas, threads }, i) => ({ replicas, threads, ...timings[i] }));
    return { ...fastestOf(probed), probed };
  } finally {
    for (const arranged of opened) await arranged.close();
  }
}

/** The arrangement with the lowest median step time (the first of equals). */
export function fastestOf(probed: readonly ProbedArrangement[]): Arrangement {
  const { replicas, threads } = probed.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
  return { replicas, threads };
}
