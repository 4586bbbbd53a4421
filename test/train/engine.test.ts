import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { resolveConfig } from '../../src/train/config.js';
import { InterruptedError } from '../../src/errors.js';
import { train } from '../../src/train/engine.js';
import { tempDir } from '../helpers.js';

let data: string;

before(async () => {
  await initBackend('wasm');
  data = join(tempDir(), 'synthetic');
  await generateSyntheticDataset(data, { classes: 3, perClass: 6, size: 32, seed: 1, valFraction: 0.5 });
});

/** A tiny run: 18 train images in 3 batches of 6, 9 val images, MobileNeXt-0.35 at 32 px, EMA on. */
function tinyConfig(output: string, extra: Record<string, string> = {}) {
  return resolveConfig({
    flags: {
      data, output, model: 'mobilenext_035', img_size: '32', batch_size: '6', epochs: '2', cooldown_epochs: '0', sched: 'cosine',
      warmup_epochs: '0', lr: '0.01', color_jitter: '0', model_ema: 'true', model_ema_decay: '0.9', workers: '2', ...extra,
    },
  });
}

const withoutSpeed = (csv: string) => csv.trim().split('\n').map((line) => line.split(',').slice(0, -1).join(','));

test('a run writes args.yaml, classes.txt, summary.csv, curves.png, last/ and best/ checkpoints; memory is flat', async () => {
  const counts: number[] = [];
  const result = await train(tinyConfig(tempDir(), { crop_pct: '0.9' }), { events: { onEpochEnd: () => counts.push(tf.memory().numTensors) } });
  assert.deepEqual(readdirSync(result.runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
  assert.equal(counts[0], counts[1], 'tensor count flat across epochs');
  const csv = readFileSync(result.summary, 'utf8').trim().split('\n');
  assert.equal(csv[0], 'epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,img/s');
  assert.equal(csv.length, 3);
  const best = result.rows.reduce((a, b) => (b.eval_top1 > a.eval_top1 ? b : a));
  assert.deepEqual(result.best, { epoch: best.epoch, top1: best.eval_top1 }, 'the result\'s best is the trained run\'s');
  const last = loadCheckpoint(result.lastDir);
  assert.ok(last.emaWeights, 'EMA weights saved');
  assert.equal(last.spec.tensorMultiplier, 1);
  assert.equal(last.cropPct, 0.9, 'the eval crop travels with the checkpoint (mnext eval and convert default to it)');
  assert.equal(last.interpolation, 'bicubic', 'and so does the eval filter (random in training: bicubic, as timm)');
  assert.deepEqual(last.classes, readFileSync(join(result.runDir, 'classes.txt'), 'utf8').trim().split('\n'));
  assert.match(readFileSync(join(result.runDir, 'args.yaml'), 'utf8'), /model_ema: true/);
  assert.deepEqual([...readFileSync(result.curves).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
});

test('resume after epoch k repeats the uninterrupted run: same weights and summary', async () => {
  const straight = await train(tinyConfig(tempDir()));
  const first = await train(tinyConfig(tempDir()), { stopAfterEpochs: 1 });
  assert.equal(first.rows.length, 1);
  const resumed = await train({ ...tinyConfig(tempDir()), resume: first.runDir });
  assert.equal(resumed.runDir, first.runDir);
  assert.deepEqual(withoutSpeed(readFileSync(resumed.summary, 'utf8')), withoutSpeed(readFileSync(straight.summary, 'utf8')));
  const a = loadCheckpoint(straight.lastDir);
  const b = loadCheckpoint(resumed.lastDir);
  for (const [name, value] of a.weights) assert.deepEqual(b.weights.get(name)!.data, value.data, name);
  for (const [name, value] of a.emaWeights!) assert.deepEqual(b.emaWeights!.get(name)!.data, value.data, name);
});

test('an abort mid-epoch saves recovery/; resuming from the run directory finishes identically', async () => {
  const straight = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const controller = new AbortController();
  const interrupted = train(tinyConfig(tempDir(), { epochs: '1' }), {
    signal: controller.signal,
    events: { onBatch: (p) => { if (p.step === 1) controller.abort(); } },
  });
  const error = await interrupted.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof InterruptedError && /saved .*recovery/.test(error.message), String(error));
  const output = error.message.match(/--resume (.*)\)/)![1];
  assert.ok(existsSync(join(output, 'recovery')));
  const resumed = await train({ ...tinyConfig(tempDir(), { epochs: '1' }), resume: output });
  assert.ok(!existsSync(join(output, 'recovery')), 'recovery/ removed once the epoch completed');
  const a = loadCheckpoint(straight.lastDir);
  const b = loadCheckpoint(resumed.lastDir);
  for (const [name, value] of a.weights) assert.deepEqual(b.weights.get(name)!.data, value.data, name);
  assert.deepEqual(withoutSpeed(readFileSync(resumed.summary, 'utf8')), withoutSpeed(readFileSync(straight.summary, 'utf8')));
});

test('an unwritable output fails before training; a diverging loss stops with a clear message', async () => {
  const file = join(tempDir(), 'not-a-dir');
  writeFileSync(file, 'x');
  await assert.rejects(train(tinyConfig(file)), /output: cannot write to/);
  await assert.rejects(train(tinyConfig(tempDir(), { lr: '1e30', momentum: '0' })), /training diverged: the loss is (NaN|Infinity|-Infinity) at epoch 0/);
});

test('random erasing and mixup are applied, reproducibly from the seed, without leaking tensors', async () => {
  const augmented = { reprob: '0.5', remode: 'pixel', mixup: '0.4', epochs: '1' };
  const before = tf.memory().numTensors;
  const a = await train(tinyConfig(tempDir(), augmented));
  const b = await train(tinyConfig(tempDir(), augmented));
  const plain = await train(tinyConfig(tempDir(), { epochs: '1' }));
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
  assert.deepEqual(withoutSpeed(readFileSync(a.summary, 'utf8')), withoutSpeed(readFileSync(b.summary, 'utf8')));
  assert.notDeepEqual(withoutSpeed(readFileSync(a.summary, 'utf8')), withoutSpeed(readFileSync(plain.summary, 'utf8')));
  assert.ok(Number.isFinite(a.rows[0].train_loss));
});
