/**
 * Training checkpoints: a regular mnext checkpoint directory (weights loadable by `mnext eval` and plain tfjs,
 * EMA weights in ema.bin) plus what an exact resume needs — optimizer slots (optimizer.bin), and
 * train-state.json with the epoch/step position, the summary rows, the best metric, the RNG seed stream and
 * the resolved config. Written atomically by saveCheckpoint.
 */
import { dirname } from 'node:path';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import type { StateDict } from '../models/state-dict.js';
import type { OutputOptions } from '../util/output-path.js';
import type { ModelSpec } from '../models/graph.js';
import type { EvalTransform } from '../data/transforms.js';
import { type TrainConfig, evalInterpolation } from './config.js';
import type { SummaryRow } from './summary.js';
import { TRAIN_STATE_FILE, notTrainingCheckpoint, readTrainState, resolveResumeDir } from './run-state.js';

export interface TrainState {
  /** The epoch this checkpoint is inside of (0-based). */
  epoch: number;
  /** Steps of `epoch` already trained: equal to steps-per-epoch for an end-of-epoch checkpoint. */
  stepsDone: number;
  stepsPerEpoch: number;
  /** Running sums of the interrupted epoch (for its train_loss / top-1 once finished). */
  lossSum: number;
  correct: number;
  images: number;
  rows: SummaryRow[];
  best: { epoch: number; top1: number } | null;
  /** Seed of the per-(epoch, step) random streams (crops, dropout, mixup): the whole RNG state. */
  rngSeed: number;
  scheduler: { sched: string; lr: number };
  config: TrainConfig;
}

/** Always records the eval transform (`cropPct`, `interpolation`): a run knows how it evaluated. */
export interface TrainingCheckpoint extends Required<EvalTransform> {
  spec: ModelSpec;
  weights: StateDict;
  emaWeights?: StateDict;
  optimizer: StateDict;
  classes: string[];
  mean: number[];
  std: number[];
  state: TrainState;
}

export function saveTrainingCheckpoint(
  dir: string, checkpoint: TrainingCheckpoint, metric?: { epoch: number; top1: number; top5: number; loss: number }, options: OutputOptions = {},
): void {
  const { state } = checkpoint;
  const record: Checkpoint = {
    spec: checkpoint.spec,
    weights: checkpoint.weights,
    emaWeights: checkpoint.emaWeights,
    classes: checkpoint.classes,
    mean: checkpoint.mean,
    std: checkpoint.std,
    cropPct: checkpoint.cropPct,
    interpolation: checkpoint.interpolation,
    info: { epoch: metric?.epoch ?? state.epoch, steps_done: state.stepsDone, metric, ema: checkpoint.emaWeights !== undefined, model: state.config.model },
    extraJson: { [TRAIN_STATE_FILE]: state },
    extraWeights: { optimizer: checkpoint.optimizer },
  };
  saveCheckpoint(dir, record, options);
}

/**
 * `--resume` accepts a run directory (its newest of recovery/ and last/) or a checkpoint directory written by
 * `mnext train`. Returns the checkpoint and the run directory it belongs to.
 */
export function loadTrainingCheckpoint(path: string): { checkpoint: TrainingCheckpoint; dir: string; runDir: string } {
  const dir = resolveResumeDir(path);
  const saved = loadCheckpoint(dir);
  const state = readTrainState(dir);
  const optimizer = saved.extraWeights?.optimizer;
  if (!state || !optimizer) throw notTrainingCheckpoint(dir);
  return {
    checkpoint: {
      spec: saved.spec,
      weights: saved.weights,
      emaWeights: saved.emaWeights,
      optimizer,
      classes: saved.classes ?? [],
      mean: saved.mean ?? state.config.mean,
      std: saved.std ?? state.config.std,
      cropPct: saved.cropPct ?? state.config.crop_pct,
      interpolation: saved.interpolation ?? evalInterpolation(state.config),
      state,
    },
    dir,
    runDir: dirname(dir),
  };
}
