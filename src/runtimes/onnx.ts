import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { readModelMetadata } from '../formats/onnx/messages.js';
import { recordedEvalTransform } from '../data/transforms.js';
import type { ModelSpec } from '../models/graph.js';
import { loadOptionalPackage } from './optional-package.js';
import type { ModelRunner } from './runner.js';

export interface OnnxRunnerOptions {
  /** Intra-op threads (default: all cores); inter-op parallelism stays 1, the graph is a chain. */
  readonly threads?: number;
}

export interface OnnxRunner extends ModelRunner {
  readonly threads: number;
}

/** NHWC (what every runner is handed) -> NCHW (what the ONNX graph takes). */
export function nhwcToNchw(data: Float32Array, batch: number, height: number, width: number, channels: number): Float32Array {
  const out = new Float32Array(data.length);
  const plane = height * width;
  for (let n = 0; n < batch; n += 1) {
    const base = n * plane * channels;
    for (let p = 0; p < plane; p += 1) {
      for (let c = 0; c < channels; c += 1) out[base + c * plane + p] = data[base + p * channels + c];
    }
  }
  return out;
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

let loading: Promise<typeof Ort> | undefined;

/** onnxruntime-node, imported once per process (an optional peer dependency). */
export function loadOnnxRuntime(): Promise<typeof Ort> {
  loading ??= loadOptionalPackage('onnxruntime-node', 'running ONNX models', () => import('onnxruntime-node'));
  return loading;
}

/** Static input/output sizes from the session when the file carries no mnext metadata. */
function sessionSizes(session: Ort.InferenceSession): { inputSize: number; channels: number; numClasses: number } {
  const input = session.inputMetadata[0];
  const output = session.outputMetadata[0];
  const dims = input.isTensor ? input.shape : [];
  const outDims = output.isTensor ? output.shape : [];
  const [, channels, height] = dims;
  const numClasses = outDims[outDims.length - 1];
  if (typeof height !== 'number' || typeof channels !== 'number' || typeof numClasses !== 'number') {
    throw new InputError('ONNX model: input must be [N, C, S, S] and output [N, classes] with fixed sizes');
  }
  return { inputSize: height, channels, numClasses };
}

/** Loads an .onnx file (or its bytes) into onnxruntime-node as a ModelRunner. */
export async function loadOnnxRunner(pathOrBytes: string | Uint8Array, options: OnnxRunnerOptions = {}): Promise<OnnxRunner> {
  const bytes = typeof pathOrBytes === 'string' ? new Uint8Array(readFileSync(pathOrBytes)) : pathOrBytes;
  const origin = typeof pathOrBytes === 'string' ? pathOrBytes : 'ONNX model';
  const threads = options.threads ?? availableParallelism();
  const ort = await loadOnnxRuntime();
  let session: Ort.InferenceSession;
  let metadata: Record<string, string>;
  try {
    metadata = readModelMetadata(bytes);
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new InputError(`${origin} is not a loadable ONNX model: ${(error as Error).message.split('\n')[0]}`);
  }
  const spec = parseJson<ModelSpec>(metadata.mnext_spec);
  const { inputSize, channels, numClasses } = spec ? { inputSize: spec.inputSize, channels: 3, numClasses: spec.numClasses } : sessionSizes(session);
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  return {
    runtime: 'onnx',
    threads,
    inputSize,
    numClasses,
    classes: metadata.labels?.split('\n'),
    mean: parseJson<number[]>(metadata.mean),
    std: parseJson<number[]>(metadata.std),
    ...recordedEvalTransform(origin, metadata.crop_pct === undefined ? undefined : Number(metadata.crop_pct), metadata.interpolation),
    async run(input, batch) {
      const nchw = nhwcToNchw(input, batch, inputSize, inputSize, channels);
      const feeds = { [inputName]: new ort.Tensor('float32', nchw, [batch, channels, inputSize, inputSize]) };
      const results = await session.run(feeds);
      const logits = results[outputName];
      const data = Float32Array.from(logits.data as Float32Array);
      for (const tensor of Object.values(results)) tensor.dispose();
      return data;
    },
    dispose: () => session.release(),
  };
}
