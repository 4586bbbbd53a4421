import * as tf from '@tensorflow/tfjs-core';

/**
 * FusedBatchNorm's gradient with per-channel vectors broadcast instead of tiled. tfjs's own gradient tiles
 * 1/sqrt(var + eps) to the full activation shape for every BN (43% of a MobileNeXt step on wasm); this one needs
 * two channel reductions, Σdy and Σdy·(x − mean), and derives every other input's gradient from them.
 * Written with ordinary ops, so it is correct on any backend; rank-1 statistics with a scale only, else the
 * previously registered gradient runs.
 */
export function batchNormGradConfig(fallback: tf.GradConfig | undefined): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const dyTensor = dy as tf.Tensor;
      if (scale === undefined || mean.rank !== 1 || fallback === undefined) {
        if (!fallback) throw new Error('FusedBatchNorm gradient: unsupported inputs');
        return fallback.gradFunc(dy, saved, attrs);
      }
      const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
      const rstd = tf.rsqrt(tf.add(variance, varianceEpsilon));
      const gain = tf.mul(scale, rstd);
      const sumDy = tf.sum(dyTensor, axes);
      const sumDyCentered = tf.sum(tf.mul(dyTensor, tf.sub(x, mean)), axes);
      return {
        x: () => tf.mul(dyTensor, gain),
        mean: () => tf.neg(tf.mul(sumDy, gain)),
        variance: () => tf.mul(sumDyCentered, tf.mul(tf.mul(gain, tf.square(rstd)), -0.5)),
        scale: () => tf.mul(sumDyCentered, rstd),
        offset: () => sumDy,
      };
    },
  };
}

let registered = false;

/** Installs the broadcast gradient once (idempotent), keeping tfjs's for the cases it does not cover. */
export function registerBatchNormGrad(): void {
  if (registered) return;
  const fallback = tf.getGradient(tf.FusedBatchNorm);
  tf.registerGradient(batchNormGradConfig(fallback));
  registered = true;
}
