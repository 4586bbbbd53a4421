/**
 * Messages between the parallel trainer and its workers. Only control travels by message (images by transfer,
 * one request and one answer per step); gradients and weights move through the shared buffers of shared.ts.
 */
import type { ModelSpec } from '../../models/graph.js';
import type { OptimizerOptions } from '../optim.js';
import type { ParamSlice, SharedBuffers } from './shared.js';

export interface WorkerInit {
  readonly backend?: string;
  /** Intra-op threads of the replica's engine. */
  readonly threads: number;
  readonly spec: ModelSpec;
  /** PyTorch-layout state dict entries, identical in every replica. */
  readonly weights: StateDictEntries;
  readonly optimizer: OptimizerOptions;
  /** Optimiser slots to start from (a resumed run): every parameter's, merged from the owners that saved them. */
  readonly optimizerState?: StateDictEntries;
  readonly smoothing: number;
  /** state_dict keys training leaves as they are (TfjsModelOptions.frozen). */
  readonly frozen: string[];
}

/** A StateDict as message data (a Map of plain objects would do too; entries keep the order explicit). */
export type StateDictEntries = [string, { shape: number[]; data: Float32Array }][];

export interface WorkerAttach {
  readonly rank: number;
  readonly workers: number;
  readonly layout: ParamSlice[];
  /** Where rank 0 publishes its untrained variables (BN running statistics) in `buffers.stats`. */
  readonly statsLayout: ParamSlice[];
  readonly buffers: SharedBuffers;
}

export interface StepRequest {
  readonly images: Float32Array;
  readonly imageShape: [number, number, number, number];
  readonly targets: Float32Array;
  readonly numClasses: number;
  readonly seed: number;
  readonly lr: number;
  /** Every replica's share of the batch (rows / batch), the weights of the gradient average. */
  readonly shardWeights: number[];
}

/** Wall milliseconds of one replica's step, by phase (see worker.ts `step`). */
export interface StepPhases {
  readonly gradients: number;
  readonly publishGradients: number;
  readonly waitGradients: number;
  readonly update: number;
  readonly runningStats: number;
  readonly waitWeights: number;
  readonly loadWeights: number;
}

export type ToWorker =
  | { readonly kind: 'init'; readonly init: WorkerInit }
  | { readonly kind: 'attach'; readonly attach: WorkerAttach }
  | { readonly kind: 'step'; readonly step: StepRequest }
  | { readonly kind: 'stateDict' }
  | { readonly kind: 'optimizerState' };

export type FromWorker =
  | { readonly kind: 'ready'; readonly backend: string; readonly threads: number; readonly params: [string, number][] }
  | { readonly kind: 'attached' }
  | { readonly kind: 'stepped'; readonly loss: number; readonly correct: number; readonly numTensors: number; readonly phases: StepPhases }
  | { readonly kind: 'stateDict'; readonly weights: StateDictEntries }
  /** The optimiser's counters and the slots of the parameters this replica owns (the others' are never updated). */
  | { readonly kind: 'optimizerState'; readonly state: StateDictEntries }
  | { readonly kind: 'error'; readonly message: string };
