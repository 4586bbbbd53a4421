import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { TfjsModel } from '../../src/models/executor.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { createOptimizer } from '../../src/train/optim.js';

let model: TfjsModel;
const CONV = 'features.0.0.weight';
const BN = 'features.0.1.weight';

before(async () => {
  await initBackend('cpu');
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 4, inputSize: 32 });
  model = new TfjsModel(graph, initStateDict(graph, 3));
});
after(() => model.dispose());

/** Constant gradients g for two parameters: a decayed conv weight and an undecayed BN gamma. */
function grads(value: number): Map<string, tf.Tensor> {
  return new Map([CONV, BN].map((name) => [name, tf.fill(model.variables.get(name)!.shape, value)]));
}

function first(name: string): number {
  return model.variables.get(name)!.dataSync()[0];
}

function stepWith(opt: ReturnType<typeof createOptimizer>, g: number, lr: number): void {
  const map = grads(g);
  opt.apply(map, lr);
  for (const t of map.values()) t.dispose();
}

function restore(weights: Map<string, { shape: readonly number[]; data: Float32Array }>) {
  model.loadStateDict(weights);
}

test('the graph marks conv weights decayed and BN parameters not (timm add_weight_decay groups)', () => {
  const decay = new Map(model.graph.params.map((p) => [p.name, p.decay]));
  assert.equal(decay.get(CONV), true);
  assert.equal(decay.get(BN), false);
  assert.ok(model.trainableByName().has(CONV));
});

test('SGD Nesterov follows torch.optim.SGD with coupled L2 on weights only', () => {
  const saved = model.stateDict();
  const p0 = first(CONV);
  const b0 = first(BN);
  const opt = createOptimizer(model, { opt: 'sgd', momentum: 0.9, weightDecay: 0.1, eps: 1e-8 });
  const [g, lr, mu, wd] = [0.5, 0.2, 0.9, 0.1];
  // step 1: d = g + wd p; buf = d; update d + mu buf
  let p = p0;
  let buf = 0;
  let q = b0;
  let qbuf = 0;
  for (let i = 0; i < 3; i += 1) {
    stepWith(opt, g, lr);
    const d = g + wd * p;
    buf = mu * buf + d;
    p -= lr * (d + mu * buf);
    qbuf = mu * qbuf + g;
    q -= lr * (g + mu * qbuf);
  }
  assert.ok(Math.abs(first(CONV) - p) < 1e-5, `${first(CONV)} vs ${p}`);
  assert.ok(Math.abs(first(BN) - q) < 1e-5, `BN gamma gets no decay: ${first(BN)} vs ${q}`);
  opt.dispose();
  restore(saved);
});

test('RMSpropTF: squares start at 1, eps inside the sqrt, lr folded into the momentum (spec §4.3)', () => {
  const saved = model.stateDict();
  const opt = createOptimizer(model, { opt: 'rmsproptf', momentum: 0.9, weightDecay: 1e-2, eps: 1e-3 });
  const [alpha, eps, mu, wd] = [0.9, 1e-3, 0.9, 1e-2];
  let p = first(CONV);
  let v = 1;
  let b = 0;
  for (const [g, lr] of [[0.3, 0.1], [-0.2, 0.05], [0.4, 0.01]]) {
    stepWith(opt, g, lr);
    const d = g + wd * p;
    v += (1 - alpha) * (d * d - v);
    b = mu * b + (lr * d) / Math.sqrt(v + eps);
    p -= b;
  }
  assert.ok(Math.abs(first(CONV) - p) < 1e-6, `${first(CONV)} vs ${p}`);
  // The LR change kept the momentum accumulated at the old LR: a PyTorch-style rule would differ.
  const state = opt.stateDict();
  assert.ok(Math.abs(state.get(`square_avg/${CONV}`)!.data[0] - v) < 1e-6);
  assert.equal(state.get('step')!.data[0], 3);
  opt.dispose();
  restore(saved);
});

test('AdamW: bias-corrected moments, decoupled decay on weights only', () => {
  const saved = model.stateDict();
  const opt = createOptimizer(model, { opt: 'adamw', momentum: 0.9, weightDecay: 0.05, eps: 1e-8 });
  let p = first(CONV);
  let m = 0;
  let v = 0;
  const g = 0.25;
  for (let t = 1; t <= 2; t += 1) {
    stepWith(opt, g, 0.01);
    p *= 1 - 0.01 * 0.05;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    p -= (0.01 * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
  }
  assert.ok(Math.abs(first(CONV) - p) < 1e-6, `${first(CONV)} vs ${p}`);
  opt.dispose();
  restore(saved);
});

test('optimizer state round-trips: a restored optimizer continues identically, without leaking tensors', () => {
  const saved = model.stateDict();
  const a = createOptimizer(model, { opt: 'rmsproptf', momentum: 0.9, weightDecay: 1e-5, eps: 1e-3 });
  stepWith(a, 0.3, 0.1);
  const state = a.stateDict();
  const afterOne = model.stateDict();
  stepWith(a, 0.1, 0.1);
  const expected = first(CONV);
  model.loadStateDict(afterOne);
  const b = createOptimizer(model, { opt: 'rmsproptf', momentum: 0.9, weightDecay: 1e-5, eps: 1e-3 });
  b.loadStateDict(state);
  const before = tf.memory().numTensors;
  stepWith(b, 0.1, 0.1);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(first(CONV), expected);
  a.dispose();
  b.dispose();
  restore(saved);
});
