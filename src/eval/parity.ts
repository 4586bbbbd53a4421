import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend/index.js';
import { InferenceModel, TfjsModel, nchwToNhwc } from '../models/executor.js';
import { buildGraph } from '../models/registry.js';
import { type Fixture, loadFixture } from '../io/fixture.js';
import { loadModelSource } from '../io/model-source.js';
import { compareLogits } from '../runtimes/compare.js';
import { argmaxRows } from '../util/metrics.js';
import type { StateDict } from '../models/state-dict.js';

export interface ParityResult {
  /** max |logit - reference| of the eval-mode forward pass (BN with running statistics). */
  readonly maxAbsDiff: number;
  /** The same for the fast path (BN folded into convs, fused ReLU6). */
  readonly foldedMaxAbsDiff: number;
  /** Largest |reference logit|, to read the difference relative to the logit scale. */
  readonly logitScale: number;
  /** Every row's argmax equals the reference's (both paths). */
  readonly argmaxAgree: boolean;
  readonly backend: string;
  readonly model: string;
  readonly batch: number;
}

/** The shared logit comparison, plus whether every row's top class agrees with the reference. */
function compare(reference: Fixture['logits'], logits: Float32Array): { maxAbsDiff: number; argmaxAgree: boolean } {
  const classes = reference[0].length;
  const expected = reference.flat();
  const ours = argmaxRows(logits, classes);
  return {
    maxAbsDiff: compareLogits(logits, expected).maxAbs,
    argmaxAgree: argmaxRows(expected, classes).every((top, row) => top === ours[row]),
  };
}

/**
 * Runs a fixture's input through its model (or through `weights`, e.g. an imported .pth) in eval mode, on the
 * current backend, and compares with the reference logits the official PyTorch model produced.
 */
export function runParity(fixture: Fixture, weights: StateDict = fixture.weights): ParityResult {
  const graph = buildGraph(fixture.spec);
  const model = new TfjsModel(graph, weights);
  const fast = new InferenceModel(graph, weights);
  try {
    const x = nchwToNhwc(fixture.input, fixture.inputShape);
    const eager = tf.tidy(() => model.forward(x, { training: false }).logits.dataSync() as Float32Array);
    const folded = fast.predict(x);
    const foldedData = folded.dataSync() as Float32Array;
    folded.dispose();
    x.dispose();
    const a = compare(fixture.logits, eager);
    const b = compare(fixture.logits, foldedData);
    return {
      maxAbsDiff: a.maxAbsDiff,
      foldedMaxAbsDiff: b.maxAbsDiff,
      logitScale: Math.max(...fixture.logits.flat().map(Math.abs)),
      argmaxAgree: a.argmaxAgree && b.argmaxAgree,
      backend: tf.getBackend(),
      model: `${fixture.spec.arch} w${fixture.spec.width} k${fixture.spec.tensorMultiplier}`,
      batch: fixture.logits.length,
    };
  } finally {
    model.dispose();
    fast.dispose();
  }
}

export interface ParityOptions {
  /** Largest allowed max |Δ| of the logits (default 1e-3). */
  readonly tolerance?: number;
  /** Run the fixture's input through these weights instead of its own (.pth, .pth.tar, checkpoint folder). */
  readonly weights?: string;
  /** With `weights`: a checkpoint's EMA weights. */
  readonly useEma?: boolean;
  readonly backend?: string;
}

export interface ParityCheck extends ParityResult {
  readonly tolerance: number;
  /** Both paths within the tolerance and every argmax the reference's. */
  readonly pass: boolean;
}

export const DEFAULT_PARITY_TOLERANCE = 1e-3;

/** `mnext parity`: a PyTorch fixture (or other weights for its model) against its reference logits. */
export async function parity(fixturePath: string, options: ParityOptions = {}): Promise<ParityCheck> {
  await ensureBackend(options.backend);
  const fixture = loadFixture(fixturePath);
  const { spec } = fixture;
  const weights = options.weights
    ? (await loadModelSource(options.weights, {
      arch: spec.arch, width: spec.width, numClasses: spec.numClasses, inputSize: spec.inputSize, tensorMultiplier: spec.tensorMultiplier, useEma: options.useEma,
    })).weights
    : fixture.weights;
  const result = runParity(fixture, weights);
  const tolerance = options.tolerance ?? DEFAULT_PARITY_TOLERANCE;
  return { ...result, tolerance, pass: result.maxAbsDiff <= tolerance && result.foldedMaxAbsDiff <= tolerance && result.argmaxAgree };
}
