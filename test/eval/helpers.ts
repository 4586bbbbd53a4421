import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from '../../src/models/state-dict.js';
import { TfjsModel } from '../../src/models/executor.js';
import type { ModelGraph } from '../../src/models/graph.js';
import { initStateDict } from '../../src/models/weights.js';
import { Rng } from '../../src/util/random.js';

/**
 * Weights that make every layer matter: random BN affine parameters, then running statistics set to the
 * statistics of a random batch (as the mnext_s fixture was made), so eval-mode activations stay O(1) and
 * logits differ clearly between classes. Fresh init alone gives logits near 1e-10. Running variances are
 * floored at 0.05: batch statistics of four images over the 1x1 and 2x2 maps deep in a small-input model give
 * some channels variances near zero, whose 1/sqrt(var) gains make the network so ill-conditioned that float32
 * rounding order alone moves logits by 1e-4 relative, and runtimes would disagree with each other as much as
 * with tfjs.
 */
export function livelyWeights(graph: ModelGraph, seed = 7): StateDict {
  const weights = initStateDict(graph, seed);
  const rng = new Rng(seed + 1);
  for (const node of graph.nodes) {
    if (node.op !== 'batchnorm') continue;
    for (const [suffix, draw] of [['weight', () => rng.uniform(0.5, 1.5)], ['bias', () => rng.normal() * 0.2]] as const) {
      const array = weights.get(`${node.param}.${suffix}`)!;
      for (let i = 0; i < array.data.length; i += 1) array.data[i] = draw();
    }
  }
  for (const p of graph.params) {
    if (!p.name.endsWith('.weight') || p.shape.length !== 2) continue;
    const array = weights.get(p.name)!;
    for (let i = 0; i < array.data.length; i += 1) array.data[i] = rng.normal() / Math.sqrt(p.shape[1]);
  }
  const model = new TfjsModel(graph, weights);
  const [h, w, c] = graph.inputShape;
  tf.tidy(() => {
    const x = tf.randomNormal([4, h, w, c], 0, 1, 'float32', seed) as tf.Tensor4D;
    const { batchStats } = model.forward(x, { training: true, seed });
    for (const [param, stats] of batchStats) {
      weights.set(`${param}.running_mean`, { shape: [stats.mean.shape[0]], data: stats.mean.dataSync() as Float32Array });
      const variance = (stats.variance.dataSync() as Float32Array).map((v) => Math.max(v, 0.05));
      weights.set(`${param}.running_var`, { shape: [stats.variance.shape[0]], data: variance });
    }
  });
  model.dispose();
  return weights;
}
