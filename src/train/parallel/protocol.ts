/** Messages between the parallel trainer and its workers (plain data: typed arrays travel as transfers). */
import type { ModelSpec } from '../../models/graph.js';
import type { OptimizerOptions } from '../optim.js';

export interface WorkerInit {
  readonly backend?: string;
  readonly spec: ModelSpec;
  /** PyTorch-layout state dict entries, identical in every replica. */
  readonly weights: [string, { shape: number[]; data: Float32Array }][];
  readonly optimizer: OptimizerOptions;
  readonly smoothing: number;
}

export type ToWorker =
  | { readonly kind: 'init'; readonly init: WorkerInit }
  | { readonly kind: 'grads'; readonly images: Float32Array; readonly imageShape: [number, number, number, number]; readonly targets: Float32Array; readonly numClasses: number; readonly seed: number }
  | { readonly kind: 'apply'; readonly grads: Float32Array[]; readonly lr: number }
  | { readonly kind: 'stateDict' };

export type FromWorker =
  | { readonly kind: 'ready'; readonly backend: string; readonly paramNames: string[] }
  | { readonly kind: 'grads'; readonly loss: number; readonly grads: Float32Array[] }
  | { readonly kind: 'applied'; readonly numTensors: number }
  | { readonly kind: 'stateDict'; readonly weights: [string, { shape: number[]; data: Float32Array }][] }
  | { readonly kind: 'error'; readonly message: string };
