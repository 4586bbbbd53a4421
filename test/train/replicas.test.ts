import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { buildGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { resolveConfig } from '../../src/train/config.js';
import { InterruptedError } from '../../src/errors.js';
import { train } from '../../src/train/engine.js';
import { tempDir } from '../helpers.js';

let data: string;

before(async () => {
  await initBackend('wasm');
  data = join(tempDir(), 'synthetic');
  await generateSyntheticDataset(data, { classes: 3, perClass: 12, size: 32, seed: 1, valFraction: 0.5 });
});

/**
 * 36 train images in 3 batches of 12, 18 val images, MobileNeXt-0.35 at 32 px, EMA on. Batches of 12 (shards
 * of 6): at 32 px the last BNs see 1x1 maps, and shards of 3 images make the loss diverge on any engine.
 */
function tinyConfig(output: string, extra: Record<string, string> = {}) {
  return resolveConfig({
    flags: {
      data, output, model: 'mobilenext_035', img_size: '32', batch_size: '12', epochs: '2', cooldown_epochs: '0', sched: 'cosine',
      warmup_epochs: '0', lr: '0.01', color_jitter: '0', model_ema: 'true', model_ema_decay: '0.9', workers: '2', replicas: '2', ...extra,
    },
  });
}

const withoutSpeed = (csv: string) => csv.trim().split('\n').map((line) => line.split(',').slice(0, -1).join(','));

function assertSameWeights(a: string, b: string): void {
  const x = loadCheckpoint(a);
  const y = loadCheckpoint(b);
  for (const [name, value] of x.weights) assert.deepEqual(y.weights.get(name)!.data, value.data, name);
  for (const [name, value] of x.emaWeights!) assert.deepEqual(y.emaWeights!.get(name)!.data, value.data, `ema ${name}`);
}

test('two replicas train, evaluate and save like one engine, leaking no main-thread tensors', async () => {
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const losses = { replicated: [] as number[], single: [] as number[] };
  const replicated = await train(tinyConfig(tempDir()), {
    events: { onEpochEnd: () => counts.push(tf.memory().numTensors), onBatch: ({ loss }) => losses.replicated.push(loss) },
  });
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  assert.equal(counts[0], counts[1], 'tensor count flat across epochs');
  assert.deepEqual(readdirSync(replicated.runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
  assert.equal(readFileSync(replicated.summary, 'utf8').trim().split('\n').length, 3);
  assert.match(readFileSync(join(replicated.runDir, 'args.yaml'), 'utf8'), /replicas: 2/);
  await train(tinyConfig(tempDir(), { replicas: '1' }), { events: { onBatch: ({ loss }) => losses.single.push(loss) } });
  // The first batch: the same images, targets and initial weights; only each shard's BN batch statistics and
  // dropout masks differ. Later batches are not comparable: the last BNs here normalise 1x1 maps over 6-12
  // samples, which amplifies float rounding by orders of magnitude per step (one engine alone, its weight
  // gradients summed in another order, gave 1.0075 against 1.2392 at the third batch).
  const [a, b] = [losses.replicated[0], losses.single[0]];
  assert.ok(Math.abs(a - b) <= 0.05 * b, `first-batch train loss ${a} with 2 replicas vs ${b} with one engine`);
  const last = loadCheckpoint(replicated.lastDir);
  const initial = initStateDict(buildGraph(last.spec), 42);
  const trained = buildGraph(last.spec).params.filter((p) => p.trainable && !p.name.includes('_bn1'));
  assert.ok(trained.every((p) => !last.weights.get(p.name)!.data.every((v, i) => v === initial.get(p.name)!.data[i])), 'every trained parameter moved');
  assert.ok(last.weights.get(buildGraph(last.spec).params.find((p) => p.name.endsWith('running_mean'))!.name)!.data.some((v) => v !== 0), 'rank 0\'s running statistics saved');
  assert.ok(replicated.rows.every((r) => Number.isFinite(r.train_loss) && Number.isFinite(r.eval_loss)));
});

test('resuming a replicated run after epoch k repeats the uninterrupted run: same weights, EMA and summary', async () => {
  const straight = await train(tinyConfig(tempDir()));
  const first = await train(tinyConfig(tempDir()), { stopAfterEpochs: 1 });
  const resumed = await train({ ...tinyConfig(tempDir()), resume: first.runDir });
  assert.equal(resumed.runDir, first.runDir);
  assert.deepEqual(withoutSpeed(readFileSync(resumed.summary, 'utf8')), withoutSpeed(readFileSync(straight.summary, 'utf8')));
  assertSameWeights(straight.lastDir, resumed.lastDir);
});

test('Ctrl-C mid-epoch with replicas saves recovery/ (optimiser state gathered from the owners); resuming finishes identically', async () => {
  const straight = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const controller = new AbortController();
  const error = await train(tinyConfig(tempDir(), { epochs: '1' }), {
    signal: controller.signal,
    events: { onBatch: (p) => { if (p.step === 1) controller.abort(); } },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof InterruptedError && /saved .*recovery/.test(error.message), String(error));
  const runDir = error.message.match(/--resume (.*)\)/)![1];
  assert.ok(existsSync(join(runDir, 'recovery')));
  const resumed = await train({ ...tinyConfig(tempDir(), { epochs: '1' }), resume: runDir });
  assertSameWeights(straight.lastDir, resumed.lastDir);
  assert.deepEqual(withoutSpeed(readFileSync(resumed.summary, 'utf8')), withoutSpeed(readFileSync(straight.summary, 'utf8')));
});

test('a diverging loss with replicas stops with the clear message (and the workers close: the test process exits); replicas above batch_size are rejected', async () => {
  await assert.rejects(train(tinyConfig(tempDir(), { lr: '1e30', momentum: '0' })), /training diverged: the loss is (NaN|Infinity|-Infinity) at epoch 0/);
  assert.throws(() => tinyConfig(tempDir(), { replicas: '13' }), /replicas: expected at most batch_size \(12\)/);
});
