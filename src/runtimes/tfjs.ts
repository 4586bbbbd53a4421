import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { InputError } from '../errors.js';
import type { TfjsGraphModelFiles, TfjsModelJson } from '../formats/tfjs/writer.js';
import { recordedEvalTransform } from '../data/transforms.js';
import type { ModelSource } from '../io/model-source.js';
import { InferenceModel } from '../models/executor.js';
import { buildGraph } from '../models/registry.js';
import type { ModelRunner } from './runner.js';

/** A TF.js graph-model folder: model.json with format 'graph-model' beside its weight files. */
export function isTfjsGraphModelDir(path: string): boolean {
  if (!existsSync(path) || !statSync(path).isDirectory() || !existsSync(join(path, 'model.json'))) return false;
  try {
    return (JSON.parse(readFileSync(join(path, 'model.json'), 'utf8')) as { format?: string }).format === 'graph-model';
  } catch {
    return false;
  }
}

function concatBuffers(parts: readonly Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out.buffer;
}

/** The model artifacts tfjs-converter expects, from the files themselves (no tfjs-node file:// handler needed). */
function artifactsOf(modelJson: TfjsModelJson, weightParts: readonly Uint8Array[]): tf.io.ModelArtifacts {
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
    weightData: concatBuffers(weightParts),
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    signature: modelJson.signature,
    userDefinedMetadata: { ...modelJson.userDefinedMetadata },
  };
}

/** An IOHandler that reads a graph-model folder from disk, for plain `loadGraphModel`. */
export function graphModelDirHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as TfjsModelJson;
      const parts = modelJson.weightsManifest.flatMap((group) => group.paths.map((p) => {
        const path = join(dir, p);
        if (!existsSync(path)) throw new InputError(`${dir}/model.json lists ${p}, which is missing`);
        return new Uint8Array(readFileSync(path));
      }));
      return artifactsOf(modelJson, parts);
    },
  };
}

/** The same for in-memory files (verification and latency runs convert without touching disk). */
export function graphModelMemoryHandler(files: TfjsGraphModelFiles): tf.io.IOHandler {
  return { load: async () => artifactsOf(files.modelJson, files.shards.map((shard) => shard.bytes)) };
}

function graphModelRunner(model: GraphModel, meta: TfjsModelJson['userDefinedMetadata'] | undefined): ModelRunner {
  const inputShape = model.inputs[0]?.shape ?? [];
  const outputShape = model.outputs[0]?.shape ?? [];
  const inputSize = meta?.spec.inputSize ?? inputShape[1];
  const numClasses = meta?.spec.numClasses ?? outputShape[outputShape.length - 1];
  if (!inputSize || !numClasses || inputSize < 0 || numClasses < 0) throw new InputError('TF.js model: input must be [N, S, S, 3] and output [N, classes] with fixed sizes');
  return {
    runtime: 'tfjs',
    inputSize,
    numClasses,
    classes: meta?.classes,
    mean: meta?.mean,
    std: meta?.std,
    ...recordedEvalTransform('TF.js model', meta?.cropPct, meta?.interpolation),
    async run(input, batch) {
      const logits = tf.tidy(() => model.execute(tf.tensor4d(input, [batch, inputSize, inputSize, 3])) as tf.Tensor);
      const data = (await logits.data()) as Float32Array;
      logits.dispose();
      return data;
    },
    dispose: () => model.dispose(),
  };
}

export async function loadTfjsGraphRunner(source: string | TfjsGraphModelFiles): Promise<ModelRunner> {
  const handler = typeof source === 'string' ? graphModelDirHandler(source) : graphModelMemoryHandler(source);
  let model: GraphModel;
  try {
    model = await loadGraphModel(handler);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${typeof source === 'string' ? source : 'TF.js model'} could not be loaded as a TF.js graph model: ${(error as Error).message}`);
  }
  const meta = typeof source === 'string'
    ? (JSON.parse(readFileSync(join(source, 'model.json'), 'utf8')) as TfjsModelJson).userDefinedMetadata
    : source.modelJson.userDefinedMetadata;
  return graphModelRunner(model, meta);
}

/** mnext's own fast path (BN folded, fused kernels) for checkpoints, model names and fixtures. */
export function sourceRunner(source: ModelSource): ModelRunner {
  const model = new InferenceModel(buildGraph(source.spec), source.weights);
  const size = source.spec.inputSize;
  return {
    runtime: 'tfjs',
    inputSize: size,
    numClasses: source.spec.numClasses,
    classes: source.classes,
    mean: source.mean,
    std: source.std,
    cropPct: source.cropPct,
    interpolation: source.interpolation,
    freshWeights: source.freshWeights,
    async run(input, batch) {
      const logits = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, size, size, 3])));
      const data = (await logits.data()) as Float32Array;
      logits.dispose();
      return data;
    },
    dispose: () => model.dispose(),
  };
}
