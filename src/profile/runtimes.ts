import { availableParallelism } from 'node:os';
import type { ConvertTarget } from '../formats/index.js';
import { writeOnnx } from '../formats/onnx/writer.js';
import { writeTfjsGraphModel } from '../formats/tfjs/writer.js';
import { writeTflite } from '../formats/tflite/index.js';
import { randomInputBatch } from '../runtimes/compare.js';
import type { ModelRunner } from '../runtimes/runner.js';
import { loadTfliteRunner } from '../runtimes/litert.js';
import { loadOnnxRunner } from '../runtimes/onnx.js';
import { loadTfjsGraphRunner } from '../runtimes/tfjs.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/constants.js';
import type { StateDict } from '../models/state-dict.js';
import { type InferenceGraph, foldBatchNorm } from '../models/fold.js';
import type { ModelGraph } from '../models/graph.js';
import { buildGraph } from '../models/registry.js';
import { selectModelWeights } from '../models/weights.js';
import { backendThreads } from '../backend/index.js';
import { type LatencyResult, timeRuns } from './latency.js';

export type LatencyRuntime = ConvertTarget;
export const LATENCY_RUNTIMES: readonly LatencyRuntime[] = ['tfjs', 'onnx', 'tflite'];

export interface RuntimeLatencyOptions {
  /** Square input size (default: the graph's). */
  readonly inputSize?: number;
  readonly batch: number;
  readonly runs: number;
  readonly warmup: number;
  /** onnxruntime intra-op threads (default: all cores); tfjs and LiteRT report what they use. */
  readonly threads?: number;
}

export interface RuntimeLatency extends LatencyResult {
  readonly runtime: LatencyRuntime;
  readonly threads: number;
}

const META = { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };

async function openRuntime(runtime: LatencyRuntime, graph: InferenceGraph, threads: number | undefined): Promise<{ runner: ModelRunner; threads: number }> {
  if (runtime === 'onnx') {
    const runner = await loadOnnxRunner(writeOnnx(graph, META), { threads: threads ?? availableParallelism() });
    return { runner, threads: runner.threads };
  }
  if (runtime === 'tfjs') return { runner: await loadTfjsGraphRunner(writeTfjsGraphModel(graph, META)), threads: backendThreads() };
  // LiteRT's wasm build runs XNNPACK single-threaded under Node.
  return { runner: await loadTfliteRunner(writeTflite(graph, META)), threads: 1 };
}

/**
 * Latency of the deployable file in a real runtime: the model is converted in memory (BN folded, the same
 * graph `mnext convert` writes), loaded into the runtime and timed on a seeded batch after warm-up.
 */
export async function measureRuntimeLatency(runtime: LatencyRuntime, graph: ModelGraph, weights: StateDict, options: RuntimeLatencyOptions): Promise<RuntimeLatency> {
  const sized = options.inputSize && options.inputSize !== graph.spec.inputSize ? buildGraph({ ...graph.spec, inputSize: options.inputSize }) : graph;
  const inference = foldBatchNorm(sized, selectModelWeights(sized, weights));
  const { runner, threads } = await openRuntime(runtime, inference, options.threads);
  const input = randomInputBatch(options.batch, sized.spec.inputSize);
  try {
    const latency = await timeRuns(async () => {
      await runner.run(input, options.batch);
    }, options.runs, options.warmup);
    return { ...latency, runtime, threads };
  } finally {
    await runner.dispose();
  }
}
