import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ScheduleOptions, learningRate, stepLearningRate, totalEpochs } from '../../src/train/scheduler.js';

const near = (actual: number, expected: number, relative = 2e-4) => assert.ok(Math.abs(actual - expected) <= relative * expected, `${actual} vs ${expected}`);

// Spec §4.3: the efficient scripts' step schedule (base 0.12, warmup 3 from 1e-6, x0.97 every 2.4 epochs).
const step: ScheduleOptions = { sched: 'step', lr: 0.12, epochs: 850, warmupEpochs: 3, warmupLr: 1e-6, minLr: 1e-5, decayEpochs: 2.4, decayRate: 0.97, cooldownEpochs: 10 };
// Spec §4.3: mnext_mbv2.sh's cosine (base 0.1, warmup 3 from 1e-4, 200 epochs + 10 cooldown, min 1e-5).
const cosine: ScheduleOptions = { sched: 'cosine', lr: 0.1, epochs: 200, warmupEpochs: 3, warmupLr: 1e-4, minLr: 1e-5, decayEpochs: 30, decayRate: 0.1, cooldownEpochs: 10 };

test('step schedule matches the spec table of computed LRs', () => {
  const table: [number, number][] = [[0, 1e-6], [1, 0.040001], [2, 0.08], [3, 0.1164], [4, 0.1164], [5, 0.11291], [7, 0.11291],
    [8, 0.10952], [9, 0.10952], [10, 0.10624], [11, 0.10624], [499, 2.19e-4], [849, 2.57e-6]];
  for (const [epoch, lr] of table) near(learningRate(step, epoch), lr, 5e-3);
  assert.equal(learningRate(step, 0), 1e-6);
  assert.equal(totalEpochs(step), 850, 'step schedules get no cooldown');
});

test('step schedule cross-check: the 5_68M log (base 0.048)', () => {
  const s = { ...step, lr: 0.048 };
  for (const [epoch, lr] of [[0, 1e-6], [1, 0.016], [2, 0.032], [3, 0.04656], [4, 0.04656]] as const) near(learningRate(s, epoch), lr, 1e-3);
});

test('cosine schedule matches the spec table, with the cooldown at min_lr', () => {
  const table: [number, number][] = [[0, 1e-4], [1, 0.0334], [2, 0.0667], [3, 0.099944], [4, 0.099901], [5, 0.099846], [100, 0.050005], [198, 3.467e-5], [199, 1.617e-5]];
  for (const [epoch, lr] of table) near(learningRate(cosine, epoch), lr, 1e-3);
  for (const epoch of [200, 205, 209]) assert.equal(learningRate(cosine, epoch), 1e-5);
  assert.equal(totalEpochs(cosine), 210);
});

test('per-epoch updates hold the LR constant within an epoch; per-step updates move it every step', () => {
  assert.equal(stepLearningRate(cosine, 1, 0, 10, false), stepLearningRate(cosine, 1, 9, 10, false));
  const a = stepLearningRate(cosine, 1, 0, 10, true);
  const b = stepLearningRate(cosine, 1, 5, 10, true);
  assert.equal(a, learningRate(cosine, 1));
  near(b, learningRate(cosine, 1.5), 1e-12);
  assert.ok(b > a, 'warmup rises within the epoch');
});
