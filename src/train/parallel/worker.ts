/**
 * One data-parallel replica: its own tfjs engine (own wasm instance), a copy of the model and of the
 * optimiser. Per step it computes gradients on its shard, then applies the averaged gradients every replica
 * receives, so weights stay identical; BN running statistics are per replica, as in PyTorch DDP.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend/index.js';
import { TfjsModel } from '../../models/executor.js';
import { buildGraph } from '../../models/registry.js';
import { type Optimizer, computeGradients, disposeGradientResult } from '../step.js';
import { createOptimizer } from '../optim.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

interface Replica {
  readonly model: TfjsModel;
  readonly optimizer: Optimizer & { dispose(): void };
  readonly names: string[];
  readonly smoothing: number;
  pendingStats?: ReturnType<typeof computeGradients>['batchStats'];
}

let replica: Replica | undefined;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

async function init(message: WorkerInit): Promise<void> {
  const backend = await initBackend(message.backend);
  const graph = buildGraph(message.spec);
  const model = new TfjsModel(graph, new Map(message.weights));
  const names = [...model.trainableByName().keys()];
  replica = { model, optimizer: createOptimizer(model, message.optimizer), names, smoothing: message.smoothing };
  send({ kind: 'ready', backend, paramNames: names });
}

function gradients(message: Extract<ToWorker, { kind: 'grads' }>): void {
  const r = replica!;
  const images = tf.tensor4d(message.images, message.imageShape);
  const targets = tf.tensor2d(message.targets, [message.imageShape[0], message.numClasses]);
  const result = computeGradients(r.model, images, targets, { smoothing: r.smoothing, seed: message.seed });
  tf.dispose([images, targets]);
  const grads = r.names.map((name) => result.grads.get(name)!.dataSync() as Float32Array);
  for (const g of result.grads.values()) g.dispose();
  r.pendingStats = result.batchStats;
  send({ kind: 'grads', loss: result.loss, grads }, grads.map((g) => g.buffer as ArrayBuffer));
}

function apply(message: Extract<ToWorker, { kind: 'apply' }>): void {
  const r = replica!;
  const grads = new Map(r.names.map((name, i) => [name, tf.tensor(message.grads[i], r.model.variables.get(name)!.shape)]));
  r.optimizer.apply(grads, message.lr);
  for (const g of grads.values()) g.dispose();
  if (r.pendingStats) {
    r.model.updateRunningStats(r.pendingStats);
    disposeGradientResult({ grads: new Map(), batchStats: r.pendingStats });
    r.pendingStats = undefined;
  }
  send({ kind: 'applied', numTensors: tf.memory().numTensors });
}

parentPort!.on('message', (message: ToWorker) => {
  const handle = async () => {
    if (message.kind === 'init') await init(message.init);
    else if (message.kind === 'grads') gradients(message);
    else if (message.kind === 'apply') apply(message);
    else send({ kind: 'stateDict', weights: [...replica!.model.stateDict()].map(([n, t]) => [n, { shape: [...t.shape], data: t.data }]) });
  };
  handle().catch((error: unknown) => send({ kind: 'error', message: error instanceof Error ? error.message : String(error) }));
});
