import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { normalizeBatch } from '../../src/data/index.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { InferenceModel } from '../../src/models/executor.js';
import { createModelGraph } from '../../src/models/registry.js';
import { Rng } from '../../src/util/random.js';
import { livelyWeights } from '../eval/helpers.js';
import { runCli, tempDir } from '../helpers.js';

const SIZE = 32;
const CLASSES = ['cat', 'dog', 'eel', 'fox'];
const MEAN = [0.5, 0.45, 0.4];
const STD = [0.25, 0.2, 0.22];
const work = tempDir('mnext-eval-');
const checkpoint = join(work, 'ckpt');
const data = join(work, 'val');
const IMAGES = 24;
const WRONG = 6;


/**
 * A checkpoint and a folder whose top-1 is known: random images at the model's input size (so the eval
 * transform with --crop-pct 1 leaves the pixels as they are), each filed under the class the model predicts
 * for it — except WRONG of them, filed under another class.
 */
before(async () => {
  await initBackend();
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: CLASSES.length, inputSize: SIZE });
  const weights = livelyWeights(graph, 21);
  saveCheckpoint(checkpoint, { spec: graph.spec, weights, classes: CLASSES, mean: MEAN, std: STD });
  const model = new InferenceModel(graph, weights);
  const rng = new Rng(5);
  let filed = 0;
  let wrong = 0;
  while (filed < IMAGES) {
    const pixels = Uint8Array.from({ length: SIZE * SIZE * 3 }, () => rng.int(0, 256));
    const logits = tf.tidy(() => model.predict(normalizeBatch({ images: pixels, labels: Int32Array.of(0), size: SIZE, paths: [] }, MEAN, STD)).dataSync());
    const ranked = [...logits].map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
    if (ranked[0][0] - ranked[1][0] < 1e-3) continue; // near-ties could flip between runtimes
    const predicted = ranked[0][1];
    const label = wrong < WRONG ? (predicted + 1) % CLASSES.length : predicted;
    if (label !== predicted) wrong += 1;
    const dir = join(data, CLASSES[label]);
    mkdirSync(dir, { recursive: true });
    await sharp(Buffer.from(pixels), { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(join(dir, `img${filed}.png`));
    filed += 1;
  }
  model.dispose();
});
after(() => rmSync(work, { recursive: true, force: true }));

const expectedTop1 = (100 * (IMAGES - WRONG)) / IMAGES;

describe('mnext eval', () => {
  test('checkpoint: known top-1, top-5, per-class, confusion PNG and results file', async () => {
    const png = join(work, 'confusion.png');
    const csv = join(work, 'results.csv');
    const { code, stdout, stderr } = await runCli('eval', '--model', checkpoint, '--data', data, '-b', '5', '--crop-pct', '1', '--json',
      '--confusion', png, '--results-file', csv);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.images, IMAGES);
    assert.ok(Math.abs(result.top1 - expectedTop1) < 1e-9, `top-1 ${result.top1}, expected ${expectedTop1}`);
    assert.equal(result.top5, 100);
    assert.ok(result.loss > 0 && Number.isFinite(result.loss));
    assert.ok(result.imgPerSec > 0);
    assert.equal(result.runtime, 'tfjs');
    assert.equal(result.perClass.reduce((s: number, c: { total: number }) => s + c.total, 0), IMAGES);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    const [header, row] = readFileSync(csv, 'utf8').trim().split('\n');
    assert.ok(header.startsWith('model,top1,top1_err,top5,top5_err'));
    assert.equal(Number(row.split(',')[1]), Number(expectedTop1.toFixed(3)));
  });

  test('a checkpoint that records its eval crop and filter (as mnext train writes them) is evaluated with them by default', async () => {
    const cropped = join(work, 'ckpt-crop1');
    saveCheckpoint(cropped, { ...loadCheckpoint(checkpoint), cropPct: 1, interpolation: 'bilinear' });
    const csv = join(work, 'results-crop1.csv');
    const { code, stdout, stderr } = await runCli('eval', '--model', cropped, '--data', data, '-b', '5', '--json', '--results-file', csv);
    assert.equal(code, 0, stderr);
    assert.ok(Math.abs(JSON.parse(stdout).top1 - expectedTop1) < 1e-9, 'evaluated at crop 1.0 the known top-1 comes back');
    const [header, row] = readFileSync(csv, 'utf8').trim().split('\n');
    const column = (name: string) => row.split(',')[header.split(',').indexOf(name)];
    assert.equal(column('crop_pct'), '1');
    assert.equal(column('interpolation'), 'bilinear');
    const filter = await runCli('eval', '--model', cropped, '--data', data, '--interpolation', 'lanczos');
    assert.notEqual(filter.code, 0);
    assert.match(filter.stderr, /expected one of bilinear, bicubic, got "lanczos"/);

    // ONNX and TF.js files keep the transform too (.tflite metadata has no place for it).
    for (const [to, path] of [['onnx', join(work, 'crop1.onnx')], ['tfjs', join(work, 'crop1_tfjs')]]) {
      assert.equal((await runCli('convert', '--model', cropped, '--to', to, '--out', path)).code, 0);
      const converted = join(work, `results-crop1-${to}.csv`);
      const run = await runCli('eval', '--model', path, '--data', data, '--batch-size', '7', '--json', '--results-file', converted);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(Math.abs(JSON.parse(run.stdout).top1 - expectedTop1) < 1e-9, `${to}: evaluated at the recorded crop`);
      const [h, r] = readFileSync(converted, 'utf8').trim().split('\n');
      assert.deepEqual(['crop_pct', 'interpolation'].map((name) => r.split(',')[h.split(',').indexOf(name)]), ['1', 'bilinear'], to);
    }

    const meta = JSON.parse(readFileSync(join(cropped, 'model.json'), 'utf8'));
    writeFileSync(join(cropped, 'model.json'), JSON.stringify({ ...meta, cropPct: 1.5 }));
    const bad = await runCli('eval', '--model', cropped, '--data', data);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /cropPct must be a number in \(0, 1\]/);
  });

  test('the same model as .onnx, .tflite and a TF.js folder gives the same top-1', async () => {
    for (const [to, path] of [['onnx', join(work, 'm.onnx')], ['tflite', join(work, 'm.tflite')], ['tfjs', join(work, 'm_tfjs')]]) {
      assert.equal((await runCli('convert', '--model', checkpoint, '--to', to, '--out', path)).code, 0);
      const { code, stdout, stderr } = await runCli('eval', '--model', path, '--data', data, '--batch-size', '7', '--crop-pct', '1', '--json');
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout);
      assert.equal(result.runtime, to);
      assert.ok(Math.abs(result.top1 - expectedTop1) < 1e-9, `${to}: top-1 ${result.top1}`);
    }
  });

  test('text output prints the confusion matrix; --min-top1 above the result exits 1', async () => {
    const { code, stdout, stderr } = await runCli('eval', '--model', checkpoint, '--data', data, '--crop-pct', '1', '--confusion', join(work, 'c2.png'),
      '--per-class', '--min-top1', '90');
    assert.equal(code, 1);
    assert.match(stdout, /top-1 75\.000%/);
    assert.match(stdout, /true \\ pred/);
    assert.match(stderr, /below --min-top1 90/);
  });

  test('a folder class the model does not know is an error listing the differences', async () => {
    const other = join(work, 'other');
    mkdirSync(join(other, 'zebra'), { recursive: true });
    mkdirSync(join(other, 'cat'), { recursive: true });
    const pixels = Buffer.alloc(SIZE * SIZE * 3, 128);
    for (const c of ['zebra', 'cat']) await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(join(other, c, 'a.png'));
    const { code, stderr: message } = await runCli('eval', '--model', checkpoint, '--data', other);
    assert.equal(code, 2);
    assert.match(message, /not in the model: zebra/);
    assert.match(message, /in the model but not the folder: dog, eel, fox/);
  });

  test('a missing model file is a one-sentence error', async () => {
    const { code, stderr } = await runCli('eval', '--model', join(work, 'nope.onnx'), '--data', data);
    assert.equal(code, 2);
    assert.ok(!existsSync(join(work, 'nope.onnx')));
    assert.match(stderr, /no such file/);
    assert.doesNotMatch(stderr, /at .*\.ts:\d+/);
  });
});
