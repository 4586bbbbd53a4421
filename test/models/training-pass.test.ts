import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { TfjsModel } from '../../src/models/executor.js';
import { type ModelRequest, createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { computeGradients, disposeGradientResult, smoothedCrossEntropy } from '../../src/train/step.js';
import { Rng } from '../../src/util/random.js';

interface Case {
  readonly label: string;
  readonly name: string;
  readonly request: ModelRequest;
  /** Which state_dict keys to freeze, by index in the description's parameter list. */
  readonly frozen?: (index: number, count: number) => boolean;
}

const CASES: Case[] = [
  { label: 'MobileNeXt, partial identity, dropout', name: 'mobilenext', request: { width: 0.35, tensorMultiplier: 2, dropRate: 0.2 } },
  { label: 'MobileNetV2', name: 'mobilenetv2', request: { width: 0.35 } },
  // SE (mul, sigmoid, biased convs), swish, drop-connect, grouped 1x1 convs: the generic per-node gradients.
  { label: 'mnext_l, drop-connect', name: 'mnext_l', request: { dropConnectRate: 0.2, dropRate: 0.2 } },
  // Fine-tuning: a frozen first half (its BNs in eval mode); no gradient flows into the images' side of it.
  { label: 'MobileNeXt, first half frozen', name: 'mobilenext', request: { width: 0.35 }, frozen: (i, n) => i < n / 2 },
];

/** The gradients `tf.variableGrads` records on the tape over `TfjsModel.forward` — what the step used before. */
function tapeGradients(model: TfjsModel, x: tf.Tensor4D, targets: tf.Tensor2D, seed: number) {
  const params = model.trainableByName();
  const stats: tf.Tensor[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const { logits, batchStats } = model.forward(x, { training: true, seed });
    for (const s of batchStats.values()) stats.push(tf.keep(s.mean), tf.keep(s.variance));
    return smoothedCrossEntropy(logits, targets, 0.1);
  }, [...params.values()]);
  const byName = new Map([...params].map(([name, v]) => [name, grads[v.name].dataSync().slice()]));
  const result = { loss: value.dataSync()[0], grads: byName, variances: stats.filter((_, i) => i % 2 === 1).map((v) => v.dataSync()[0]) };
  tf.dispose([value, ...Object.values(grads), ...stats]);
  return result;
}

for (const backend of ['wasm', 'cpu'] as const) {
  for (const c of CASES) {
    test(`${backend}: the training pass gives bitwise the tape's loss and gradients (${c.label}) and frees its tensors`, async () => {
      await initBackend(backend);
      const graph = createModelGraph(c.name, { ...c.request, numClasses: 7, inputSize: 32 });
      const frozen = graph.params.filter((_, i) => c.frozen?.(i, graph.params.length)).map((p) => p.name);
      const model = new TfjsModel(graph, initStateDict(graph, 3), { frozen });
      const rng = new Rng(4);
      const x = tf.tensor4d(Float32Array.from({ length: 3 * 32 * 32 * 3 }, () => rng.normal()), [3, 32, 32, 3]);
      const targets = tf.oneHot(tf.tensor1d([1, 6, 2], 'int32'), 7) as tf.Tensor2D;

      const before = tf.memory().numTensors;
      const result = computeGradients(model, x, targets, { smoothing: 0.1, seed: 5 });
      const grads = new Map([...result.grads].map(([name, g]) => [name, g.dataSync().slice()]));
      const stats = [...result.batchStats.values()].map((s) => s.variance.dataSync()[0]);
      disposeGradientResult(result);
      assert.equal(tf.memory().numTensors, before, 'the training pass leaked tensors');

      const tape = tapeGradients(model, x, targets, 5);
      assert.equal(result.loss, tape.loss);
      assert.deepEqual([...grads.keys()].sort(), [...tape.grads.keys()].sort());
      assert.deepEqual(stats, tape.variances, 'batch statistics');
      assert.ok(grads.size > 0 && stats.length > 0);
      for (const [name, expected] of tape.grads) assert.deepEqual(grads.get(name), expected, `gradient of ${name}`);
      tf.dispose([x, targets]);
      model.dispose();
    });
  }
}
