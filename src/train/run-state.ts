/**
 * Where a run's training state lives: `--resume` accepts a run directory (its newest of recovery/ and last/) or a
 * checkpoint directory written by `mnext train`, whose train-state.json holds the position, the rows and the
 * resolved config. Read here without the weights, so the config can be resolved before anything is loaded.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { isCheckpointDir, readCheckpointJson } from '../io/checkpoint.js';
import type { TrainState } from './checkpoints.js';
import type { TrainConfig } from './config.js';

export const TRAIN_STATE_FILE = 'train-state.json';

export function readTrainState(dir: string): TrainState | undefined {
  return readCheckpointJson<TrainState>(dir, TRAIN_STATE_FILE);
}

function progressOf(dir: string): number {
  const state = readTrainState(dir);
  return state ? state.epoch * state.stepsPerEpoch + state.stepsDone : -1;
}

/** The checkpoint directory `--resume PATH` continues from. */
export function resolveResumeDir(path: string): string {
  if (!existsSync(path)) throw new UsageError(`resume: ${path} does not exist`);
  if (isCheckpointDir(path)) return path;
  if (!statSync(path).isDirectory()) throw new UsageError(`resume: ${path} is neither a run directory nor a checkpoint directory`);
  const candidates = ['recovery', 'last'].map((name) => join(path, name)).filter(isCheckpointDir);
  if (candidates.length === 0) throw new UsageError(`resume: ${path} holds no last/ or recovery/ checkpoint`);
  return candidates.sort((a, b) => progressOf(b) - progressOf(a))[0];
}

export function notTrainingCheckpoint(dir: string): UsageError {
  return new UsageError(`resume: ${dir} is a model checkpoint without training state (not written by mnext train)`);
}

/** The resolved config the run at `path` was last trained with (its newest checkpoint's). */
export function savedRunConfig(path: string): TrainConfig {
  const dir = resolveResumeDir(path);
  const state = readTrainState(dir);
  if (!state) throw notTrainingCheckpoint(dir);
  return state.config;
}
