/**
 * Data-parallel training on worker_threads: each worker is a replica with its own tfjs engine, so a 2-core
 * machine runs two single-threaded wasm engines side by side. A step splits the batch into contiguous shards,
 * every replica computes its shard's gradients, the trainer averages them (weighted by shard size, which equals
 * the full-batch mean loss's gradient) and every replica applies the same average with its own optimiser copy.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { StateDict } from '../../io/state-dict.js';
import type { ModelGraph } from '../../models/graph.js';
import type { OptimizerOptions } from '../optim.js';
import type { FromWorker, ToWorker } from './protocol.js';

export interface ParallelTrainerOptions {
  readonly workers: number;
  readonly backend?: string;
  readonly graph: ModelGraph;
  readonly weights: StateDict;
  readonly optimizer: OptimizerOptions;
  readonly smoothing: number;
}

export interface ParallelStepResult {
  /** Mean loss over the whole batch. */
  readonly loss: number;
  /** tf.memory().numTensors of each replica after the step. */
  readonly numTensors: number[];
}

/** Rows [start, end) of each shard: contiguous, sizes differing by at most one. */
export function shardRows(batch: number, workers: number): [number, number][] {
  return Array.from({ length: workers }, (_, rank) => [Math.floor((rank * batch) / workers), Math.floor(((rank + 1) * batch) / workers)]);
}

/** Dropout / drop-path seed of one replica's shard (distinct per replica, reproducible per step). */
export function shardSeed(seed: number, rank: number, workers: number): number {
  return seed * workers + rank;
}

function spawnWorker(): Worker {
  if (!fileURLToPath(import.meta.url).endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url));
  // Run from sources (tests, `npx tsx`): a worker thread does not inherit tsx's loader, so register it first.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
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
    worker.on('error', (error) => this.pending?.reject(error));
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

export class ParallelTrainer {
  private constructor(private readonly replicas: Replica[], readonly backend: string, private readonly graph: ModelGraph) {}

  static async start(options: ParallelTrainerOptions): Promise<ParallelTrainer> {
    const replicas = Array.from({ length: options.workers }, () => new Replica(spawnWorker()));
    const weights = [...options.weights].map(([name, t]) => [name, { shape: [...t.shape], data: t.data }] as [string, { shape: number[]; data: Float32Array }]);
    const init = { backend: options.backend, spec: options.graph.spec, weights, optimizer: options.optimizer, smoothing: options.smoothing };
    try {
      const ready = await Promise.all(replicas.map((r) => r.request({ kind: 'init', init }, 'ready')));
      return new ParallelTrainer(replicas, ready[0].backend, options.graph);
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
    const answers = await Promise.all(this.replicas.map((replica, rank) => {
      const [start, end] = shards[rank];
      const shardImages = images.slice(start * h * w * c, end * h * w * c);
      const shardTargets = targets.slice(start * classes, end * classes);
      return replica.request({
        kind: 'grads', images: shardImages, imageShape: [end - start, h, w, c], targets: shardTargets, numClasses: classes,
        seed: shardSeed(seed, rank, this.replicas.length),
      }, 'grads', [shardImages.buffer, shardTargets.buffer]);
    }));
    const weightsOf = shards.map(([start, end]) => (end - start) / batch);
    const averaged = answers[0].grads.map((_, p) => {
      const sum = new Float32Array(answers[0].grads[p].length);
      answers.forEach((answer, rank) => {
        const g = answer.grads[p];
        const k = weightsOf[rank];
        for (let i = 0; i < sum.length; i++) sum[i] += k * g[i];
      });
      return sum;
    });
    const loss = answers.reduce((acc, answer, rank) => acc + weightsOf[rank] * answer.loss, 0);
    const applied = await Promise.all(this.replicas.map((replica) => {
      const copy = averaged.map((g) => g.slice());
      return replica.request({ kind: 'apply', grads: copy, lr }, 'applied', copy.map((g) => g.buffer));
    }));
    return { loss, numTensors: applied.map((a) => a.numTensors) };
  }

  /** Rank 0's weights (identical across replicas except BN running statistics, as rank 0 saves in DDP). */
  async stateDict(): Promise<StateDict> {
    const answer = await this.replicas[0].request({ kind: 'stateDict' }, 'stateDict');
    return new Map(answer.weights);
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }

  get modelGraph(): ModelGraph {
    return this.graph;
  }
}
