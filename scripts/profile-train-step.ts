/**
 * Kernel profile of one training step (forward + backward, no optimiser) with `tf.profile`:
 *   npx tsx scripts/profile-train-step.ts [--backend wasm] [--threads N] [--model mobilenext] [--width 1.0] [--input-size 64]
 *     [--batch 16] [--top 16] [--steps 3] [--detail KernelName] [--repeat N]
 * Prints the kernel count, the kernel time (wrappers such as customGrad's `forward` and the fused ops' `__op`
 * scopes time their nested kernels again, so they are listed but left out of the total), the top kernels by
 * time with their counts, and the wall time per step. `--detail` lists one kernel's calls grouped by input shapes. `--repeat N` profiles N steps and keeps each kernel call's
 * fastest time (the call sequence is the same every step): a load-robust estimate on a busy machine. Kernel counts and kernel times are far steadier than wall
 * time on a shared machine.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { initBackend, setThreads } from '../src/backend/index.js';
import { TfjsModel } from '../src/models/executor.js';
import { createModelGraph } from '../src/models/registry.js';
import { initStateDict } from '../src/models/weights.js';
import { computeGradients, disposeGradientResult } from '../src/train/step.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    model: { type: 'string', default: 'mobilenext' },
    width: { type: 'string', default: '1.0' },
    'input-size': { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    top: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    detail: { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const batch = Number(values.batch);
const inputSize = Number(values['input-size']);
const classes = 1000;

setThreads(values.threads === undefined ? undefined : Number(values.threads));
await initBackend(values.backend);
const graph = createModelGraph(values.model!, { width: Number(values.width), numClasses: classes, inputSize });
const model = new TfjsModel(graph, initStateDict(graph, 1));
const images = tf.randomNormal([batch, inputSize, inputSize, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const targets = tf.tidy(() => tf.oneHot(tf.range(0, batch, 1, 'int32'), classes)) as tf.Tensor2D;
const step = (): void => disposeGradientResult(computeGradients(model, images, targets, { smoothing: 0.1, seed: 1 }));

/** Scopes that run other kernels inside them (customGrad units, fused ops with a custom gradient). */
const isWrapper = (name: string): boolean => name === 'forward' || name.endsWith('__op');

step();
const before = tf.memory().numTensors;
const info = await tf.profile(step);
for (let r = 1; r < Number(values.repeat); r++) {
  const again = await tf.profile(step);
  again.kernels.forEach((k, i) => {
    const first = info.kernels[i];
    if (first.name !== k.name) throw new Error('kernel sequence changed between steps');
    first.kernelTimeMs = Math.min(Number(first.kernelTimeMs) || 0, Number(k.kernelTimeMs) || 0);
  });
}
const byKernel = new Map<string, { ms: number; count: number }>();
let kernelMs = 0;
let kernels = 0;
for (const k of info.kernels) {
  const ms = Number(k.kernelTimeMs) || 0;
  const entry = byKernel.get(k.name) ?? { ms: 0, count: 0 };
  entry.ms += ms;
  entry.count += 1;
  byKernel.set(k.name, entry);
  if (isWrapper(k.name)) continue;
  kernelMs += ms;
  kernels += 1;
}
console.log(`kernels ${kernels} (+${info.kernels.length - kernels} wrapper scopes), kernel ms ${kernelMs.toFixed(0)}`);
const top = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top));
for (const [name, { ms, count }] of top) {
  console.log(`  ${name.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms  x${count}${isWrapper(name) ? '  (wrapper, nested time)' : ''}`);
}
if (values.detail) {
  const byShape = new Map<string, { ms: number; count: number }>();
  for (const k of info.kernels.filter((k) => k.name === values.detail)) {
    const key = JSON.stringify(k.inputShapes);
    const entry = byShape.get(key) ?? { ms: 0, count: 0 };
    entry.ms += Number(k.kernelTimeMs) || 0;
    entry.count += 1;
    byShape.set(key, entry);
  }
  for (const [shapes, { ms, count }] of [...byShape].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`  ${ms.toFixed(1).padStart(7)} ms  x${count}  ${shapes}`);
  }
}
const steps = Number(values.steps);
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
console.log(`wall ms/step ${((performance.now() - t0) / steps).toFixed(0)}; tensors before ${before}, after ${tf.memory().numTensors}`);
model.dispose();
tf.dispose([images, targets]);
