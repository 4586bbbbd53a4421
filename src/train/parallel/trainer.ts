/**
 * Data-parallel training on worker_threads: each worker is a replica with its own tfjs engine, so a 2-core
 * machine runs two single-threaded wasm engines side by side. A step splits the batch into contiguous shards;
 * every replica computes its shard's gradients into shared memory, and the average (weighted by shard size,
 * which equals the full-batch mean loss's gradient) is applied parameter by parameter by the replica that owns
 * it, the others copying the result (shared.ts). The main thread only hands out shards and collects losses.
 */
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { defaultThreads } from '../../backend/index.js';
import { startModuleWorker } from '../../util/worker.js';
import { type StateDict, sizeOf } from '../../models/state-dict.js';
import type { TfjsModel } from '../../models/executor.js';
import type { ModelGraph } from '../../models/graph.js';
import type { OptimizerOptions } from '../optim.js';
import type { FromWorker, StateDictEntries, StepPhases, ToWorker } from './protocol.js';
import { ABORTED_BY_ANOTHER_REPLICA, type ParamSlice, type SharedBuffers, allocateShared, partitionParams, sequentialLayout } from './shared.js';

function entries(state: StateDict): StateDictEntries {
  return [...state].map(([name, t]) => [name, { shape: [...t.shape], data: t.data }]);
}

export interface ParallelTrainerOptions {
  readonly workers: number;
  readonly backend?: string;
  /** Intra-op threads of each replica's engine (default: the machine's cores shared out among the replicas). */
  readonly threads?: number;
  readonly graph: ModelGraph;
  readonly weights: StateDict;
  readonly optimizer: OptimizerOptions;
  /** Optimiser state to continue from (e.g. `optimizerStateDict()` saved in a checkpoint); fresh slots if absent. */
  readonly optimizerState?: StateDict;
  readonly smoothing: number;
  /** state_dict keys training leaves as they are (TfjsModelOptions.frozen); none if absent. */
  readonly frozen?: readonly string[];
}

export interface ParallelStepResult {
  /** Mean loss over the whole batch. */
  readonly loss: number;
  /** Samples of the batch whose top logit is the target's largest entry. */
  readonly correct: number;
  /** tf.memory().numTensors of each replica after the step. */
  readonly numTensors: number[];
  /** Where each replica's step time went (wall ms by phase). */
  readonly phases: StepPhases[];
}

/** Rows [start, end) of each shard: contiguous, sizes differing by at most one. */
export function shardRows(batch: number, workers: number): [number, number][] {
  return Array.from({ length: workers }, (_, rank) => [Math.floor((rank * batch) / workers), Math.floor(((rank + 1) * batch) / workers)]);
}

/** Dropout / drop-path seed of one replica's shard (distinct per replica, reproducible per step). */
export function shardSeed(seed: number, rank: number, workers: number): number {
  return seed * workers + rank;
}

/**
 * The replicas' answers once every one has stopped (so no worker is still inside the step when it fails), or
 * the cause of a failure: a replica that failed itself rather than one released from a barrier by it.
 */
function settledOrThrow<T>(settled: PromiseSettledResult<T>[]): T[] {
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
  if (failures.length > 0) throw failures.find((e) => !e.message.includes(ABORTED_BY_ANOTHER_REPLICA)) ?? failures[0];
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

class Replica {
  private pending?: { resolve: (m: FromWorker) => void; reject: (e: Error) => void };

  constructor(readonly worker: Worker) {
    worker.on('message', (message: FromWorker) => {
      const pending = this.pending;
      this.pending = undefined;
      if (!pending) return;
      if (message.kind === 'error') pending.reject(new Error(`training worker: ${message.message}`));
      else pending.resolve(message);
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`training worker exited (code ${code})`)));
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }

  request<K extends FromWorker['kind']>(message: ToWorker, expect: K, transfer: ArrayBuffer[] = []): Promise<Extract<FromWorker, { kind: K }>> {
    return new Promise((resolve, reject) => {
      this.pending = {
        resolve: (m) => (m.kind === expect ? resolve(m as Extract<FromWorker, { kind: K }>) : reject(new Error(`training worker answered ${m.kind}, expected ${expect}`))),
        reject,
      };
      this.worker.postMessage(message, transfer);
    });
  }
}

/** Where each model variable of rank 0 lies in the shared buffers between steps. */
interface SharedState {
  readonly layout: ParamSlice[];
  readonly statsLayout: ParamSlice[];
  readonly weights: Float32Array;
  readonly stats: Float32Array;
}

export class ParallelTrainer {
  private constructor(private readonly replicas: Replica[], readonly backend: string, readonly threads: number, private readonly graph: ModelGraph, private readonly shared: SharedState) {}

  static async start(options: ParallelTrainerOptions): Promise<ParallelTrainer> {
    const replicas = Array.from({ length: options.workers }, () => new Replica(startModuleWorker(import.meta.url, './worker.js')));
    const init = {
      backend: options.backend, threads: options.threads ?? defaultThreads(options.workers), spec: options.graph.spec, weights: entries(options.weights), optimizer: options.optimizer,
      optimizerState: options.optimizerState && entries(options.optimizerState), smoothing: options.smoothing,
      frozen: [...(options.frozen ?? [])],
    };
    try {
      const ready = await Promise.all(replicas.map((r) => r.request({ kind: 'init', init }, 'ready')));
      const layout = partitionParams(ready[0].params, replicas.length);
      // Frozen tensors never change, so rank 0 need not publish them after every step.
      const fixed = new Set([...layout.map((p) => p.name), ...(options.frozen ?? [])]);
      const statsLayout = sequentialLayout(options.graph.params.filter((p) => !fixed.has(p.name)).map((p) => [p.name, sizeOf(p.shape)]));
      const buffers = allocateShared(layout, replicas.length, statsLayout);
      await Promise.all(replicas.map((r, rank) => r.request({ kind: 'attach', attach: { rank, workers: replicas.length, layout, statsLayout, buffers } }, 'attached')));
      return new ParallelTrainer(replicas, ready[0].backend, ready[0].threads, options.graph, sharedState(layout, statsLayout, buffers));
    } catch (error) {
      await Promise.all(replicas.map((r) => r.worker.terminate()));
      throw error;
    }
  }

  get workers(): number {
    return this.replicas.length;
  }

  /** One step on a batch: images NHWC [B, H, W, 3], targets [B, classes] (soft or one-hot). */
  async step(images: Float32Array, imageShape: readonly [number, number, number, number], targets: Float32Array, lr: number, seed: number): Promise<ParallelStepResult> {
    const [batch, h, w, c] = imageShape;
    const classes = targets.length / batch;
    const shards = shardRows(batch, this.replicas.length);
    const shardWeights = shards.map(([start, end]) => (end - start) / batch);
    const settled = await Promise.allSettled(this.replicas.map((replica, rank) => {
      const [start, end] = shards[rank];
      const shardImages = images.slice(start * h * w * c, end * h * w * c);
      const shardTargets = targets.slice(start * classes, end * classes);
      const request = {
        images: shardImages, imageShape: [end - start, h, w, c] as [number, number, number, number], targets: shardTargets, numClasses: classes,
        seed: shardSeed(seed, rank, this.replicas.length), lr, shardWeights,
      };
      return replica.request({ kind: 'step', step: request }, 'stepped', [shardImages.buffer, shardTargets.buffer]);
    }));
    const answers = settledOrThrow(settled);
    const loss = answers.reduce((acc, answer, rank) => acc + shardWeights[rank] * answer.loss, 0);
    const correct = answers.reduce((acc, answer) => acc + answer.correct, 0);
    return { loss, correct, numTensors: answers.map((a) => a.numTensors), phases: answers.map((a) => a.phases) };
  }

  /**
   * Brings a main-thread copy of the model (same graph) to rank 0's state: the trained parameters from the shared
   * weight buffer, the running statistics from the buffer rank 0 rewrites after each step. No worker round trip;
   * call it between steps (never while `step` is pending).
   */
  copyRank0Into(model: TfjsModel): void {
    const { layout, statsLayout, weights, stats } = this.shared;
    const copy = (slices: readonly ParamSlice[], floats: Float32Array) => {
      for (const p of slices) {
        const variable = model.variables.get(p.name)!;
        // slice(): a private copy, since some backends keep the array a tensor is made from.
        tf.tidy(() => variable.assign(tf.tensor(floats.slice(p.offset, p.offset + p.size), variable.shape)));
      }
    };
    copy(layout, weights);
    copy(statsLayout, stats);
  }

  /**
   * The whole optimiser state, as one optimiser over every parameter would hold it: each parameter's slots come
   * from the replica that owns it (the others' copies never move), the counters from rank 0. What a checkpoint
   * saves and `ParallelTrainerOptions.optimizerState` (or a single-engine optimiser) loads.
   */
  async optimizerStateDict(): Promise<StateDict> {
    const answers = settledOrThrow(await Promise.allSettled(this.replicas.map((r) => r.request({ kind: 'optimizerState' }, 'optimizerState'))));
    const merged: StateDict = new Map();
    for (const answer of [...answers].reverse()) for (const [key, value] of answer.state) merged.set(key, value);
    return merged;
  }

  /**
   * One replica's weights (rank 0 by default, as DDP saves). Trainable parameters are bit-identical across
   * replicas; BN running statistics are each replica's own.
   */
  async stateDict(rank = 0): Promise<StateDict> {
    const answer = await this.replicas[rank].request({ kind: 'stateDict' }, 'stateDict');
    return new Map(answer.weights);
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }

  get modelGraph(): ModelGraph {
    return this.graph;
  }
}

function sharedState(layout: ParamSlice[], statsLayout: ParamSlice[], buffers: SharedBuffers): SharedState {
  return { layout, statsLayout, weights: new Float32Array(buffers.weights), stats: new Float32Array(buffers.stats) };
}
