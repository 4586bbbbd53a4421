import { existsSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { EvalTransform } from '../data/transforms.js';
import type { ModelSpec } from '../models/graph.js';
import { type ModelRequest, buildGraph, resolveModelSpec } from '../models/registry.js';
import { initStateDict } from '../models/weights.js';
import { isCheckpointDir, loadCheckpoint } from './checkpoint.js';
import { loadFixture } from './fixture.js';
import { torchSourceLoader } from './torch/source.js';
import type { StateDict } from '../models/state-dict.js';

/** A model ready to run or convert: its description inputs, weights, and the labels/normalisation it ships with. */
export interface ModelSource extends EvalTransform {
  readonly spec: ModelSpec;
  readonly weights: StateDict;
  readonly classes?: string[];
  readonly mean?: number[];
  readonly std?: number[];
  /** What it was loaded from, for messages. */
  readonly origin: string;
  /** Built from a bare architecture name: random initial weights, not trained ones. */
  readonly freshWeights?: boolean;
}

export interface SourceOptions extends ModelRequest {
  /** Architecture for files that do not record one (PyTorch .pth state_dicts). */
  readonly arch?: string;
  /** Use the EMA weights of a checkpoint that has them. */
  readonly useEma?: boolean;
  readonly seed?: number;
}

/** A loader for one file kind: returns undefined when the path is not its kind. */
export type SourceLoader = (path: string, options: SourceOptions) => Promise<ModelSource | undefined>;

/** Loaders for file kinds beyond checkpoint folders and fixtures, tried in order. The one list: nothing registers by import. */
const loaders: readonly SourceLoader[] = [torchSourceLoader];

/**
 * `--model` resolution shared by eval, profile, convert, export and the API's loadModel: a checkpoint directory,
 * a parity fixture (.json), any registered file kind (.pth), or a model name from the registry (fresh weights,
 * seeded). `inputSize` applies to files too: the networks are fully convolutional up to the global pool.
 */
export async function loadModelSource(model: string, options: SourceOptions = {}): Promise<ModelSource> {
  return withInputSize(await readModelSource(model, options), options.inputSize);
}

/** The same model at another square input size (same weights). */
export function withInputSize(source: ModelSource, inputSize: number | undefined): ModelSource {
  if (inputSize === undefined || inputSize === source.spec.inputSize) return source;
  return { ...source, spec: resolveModelSpec(source.spec.arch, { ...source.spec, inputSize }) };
}

async function readModelSource(model: string, options: SourceOptions): Promise<ModelSource> {
  if (isCheckpointDir(model)) {
    const checkpoint = loadCheckpoint(model);
    if (options.useEma && !checkpoint.emaWeights) throw new InputError(`${model} has no EMA weights (--use-ema)`);
    return {
      spec: checkpoint.spec,
      weights: options.useEma ? checkpoint.emaWeights! : checkpoint.weights,
      classes: checkpoint.classes,
      mean: checkpoint.mean,
      std: checkpoint.std,
      cropPct: checkpoint.cropPct,
      interpolation: checkpoint.interpolation,
      origin: model,
    };
  }
  if (model.endsWith('.json') && existsSync(model)) {
    const fixture = loadFixture(model);
    return { spec: fixture.spec, weights: fixture.weights, origin: model };
  }
  for (const loader of loaders) {
    const source = await loader(model, options);
    if (source) return source;
  }
  if (existsSync(model)) throw new InputError(`${model}: not a checkpoint directory or a model file mnext can read`);
  if (/[/\\]/.test(model) || /\.(pth|pt|tar|json|onnx|tflite)$/.test(model)) throw new InputError(`${model}: no such file or directory`);
  const { width, numClasses, inputSize, tensorMultiplier, dropRate, dropConnectRate } = options;
  const spec = resolveModelSpec(model, { width, numClasses, inputSize, tensorMultiplier, dropRate, dropConnectRate });
  return { spec, weights: initStateDict(buildGraph(spec), options.seed ?? 42), origin: `${model} (fresh weights)`, freshWeights: true };
}
