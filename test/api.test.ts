import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import {
  CheckFailedError, type Classification, InputError, InterruptedError, InvalidModelError, MnextError, type Model, UsageError,
  convert, createModel, describeModels, evaluate, listModels, loadModel, parity, profile, train, useBackend,
} from '../src/index.js';
import { saveCheckpoint } from '../src/io/checkpoint.js';
import { createModelGraph } from '../src/models/registry.js';
import { livelyWeights } from './eval/helpers.js';
import { tempDir } from './helpers.js';

/** The public API as a library user meets it: only what src/index.ts exports, on real files and runtimes. */
const work = tempDir('mnext-api-');
const CLASSES = ['ant', 'bee', 'cow', 'dog'];
const checkpoint = join(work, 'ckpt');
const png = join(work, 'photo.png');
const WIDTH = 57;
const HEIGHT = 41;
let pixels: Buffer;

before(async () => {
  await useBackend();
  // A checkpoint whose logits differ clearly between classes, recording an eval transform of its own.
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: CLASSES.length, inputSize: 32 });
  saveCheckpoint(checkpoint, { spec: graph.spec, weights: livelyWeights(graph, 3), classes: CLASSES, cropPct: 0.9, interpolation: 'bilinear' });
  pixels = Buffer.from(Uint8Array.from({ length: WIDTH * HEIGHT * 3 }, (_, i) => (i * 7919) % 251));
  await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toFile(png);
});
after(() => rmSync(work, { recursive: true, force: true }));

function assertClassification(result: readonly Classification[], k: number): void {
  assert.equal(result.length, k);
  for (let i = 1; i < k; i += 1) assert.ok(result[i - 1].probability >= result[i].probability, 'sorted by probability');
  for (const c of result) {
    assert.equal(c.label, CLASSES[c.index]);
    assert.ok(c.probability > 0 && c.probability < 1);
  }
}

describe('listModels', () => {
  test('lists the registered names, filtered by a wildcard pattern', () => {
    const all = listModels();
    assert.ok(all.includes('mobilenext_100') && all.includes('mobilenetv2_035'));
    assert.deepEqual(listModels('mobilenetv2*'), all.filter((name) => name.startsWith('mobilenetv2')));
    assert.deepEqual(listModels('*_075'), ['mobilenext_075', 'mobilenetv2_075']);
    assert.deepEqual(listModels('nothing*'), []);
    assert.equal(describeModels('mobilenext_100')[0].params, 3535416);
  });
});

describe('Model', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(checkpoint);
  });
  after(() => model.dispose());

  test('loadModel reads the checkpoint\'s classes and eval transform', () => {
    assert.deepEqual(model.classes, CLASSES);
    assert.equal(model.inputSize, 32);
    assert.equal(model.cropPct, 0.9);
    assert.equal(model.interpolation, 'bilinear');
    assert.equal(model.runtime, 'tfjs');
    assert.equal(model.source, checkpoint);
  });

  test('classify takes a path, encoded bytes or an RGB tensor, one or many, and they agree', async () => {
    const fromPath = await model.classify(png);
    assertClassification(fromPath, 4);
    assert.deepEqual(await model.classify(readFileSync(png)), fromPath);
    const tensor = tf.tensor3d(pixels, [HEIGHT, WIDTH, 3], 'int32');
    assert.deepEqual(await model.classify(tensor), fromPath);
    tensor.dispose();
    const many = await model.classify([png, readFileSync(png)], { topK: 2 });
    assert.equal(many.length, 2);
    assert.deepEqual(many[0], fromPath.slice(0, 2));
    assert.deepEqual(many[1], fromPath.slice(0, 2));
  });

  test('classify goes through the same eval transform as evaluate (mnext eval)', async () => {
    const [top] = await model.classify(png, { topK: 1 });
    // The photo under every class: eval counts it right exactly in the class classify predicts.
    const folder = join(work, 'eval-folder');
    for (const name of CLASSES) {
      mkdirSync(join(folder, name), { recursive: true });
      writeFileSync(join(folder, name, 'photo.png'), readFileSync(png));
    }
    const result = await evaluate(model, folder);
    assert.equal(result.top1, 25);
    assert.deepEqual(result.perClass.map((c) => c.top1), CLASSES.map((name) => (name === top.label ? 100 : 0)));
    assert.equal((await evaluate(checkpoint, folder, { batchSize: 3 })).top1, 25);
  });

  test('classify leaves no tensors behind', async () => {
    await model.classify(png);
    const before = tf.memory().numTensors;
    await model.classify([png, png, png]);
    await model.classify(readFileSync(png));
    assert.equal(tf.memory().numTensors, before);
  });

  test('save writes a checkpoint loadModel reads back, and replaces only its own output unless forced', async () => {
    const copy = join(work, 'copy');
    await model.save(copy);
    const reloaded = await loadModel(copy);
    assert.deepEqual(await reloaded.classify(png), await model.classify(png));
    assert.equal(reloaded.cropPct, 0.9);
    await reloaded.dispose();
    await model.save(copy);
    const theirs = join(work, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'notes.txt'), 'mine');
    await assert.rejects(model.save(theirs), (error: InputError) => error instanceof InputError && /refusing to replace .*--force/.test(error.message));
    assert.equal(readFileSync(join(theirs, 'notes.txt'), 'utf8'), 'mine');
    await model.save(theirs, { force: true });
    assert.deepEqual((await loadModel(theirs)).classes, CLASSES);
  });
});

describe('createModel', () => {
  test('a registered name with fresh weights, its classes, and a checkpoint of it', async () => {
    const model = await createModel('mobilenext_035', { inputSize: 32, classes: CLASSES, seed: 1 });
    assert.deepEqual(model.classes, CLASSES);
    assert.equal(model.numClasses, 4);
    assertClassification(await model.classify(png), 4);
    const dir = join(work, 'fresh');
    await model.save(dir);
    const reloaded = await loadModel(dir);
    assert.deepEqual(reloaded.classes, CLASSES);
    await Promise.all([model.dispose(), reloaded.dispose()]);
  });
});

describe('loadModel on converted files', () => {
  test('.onnx, .tflite and TF.js folders classify as the checkpoint does', async () => {
    const original = await loadModel(checkpoint);
    const expected = await original.classify(png);
    for (const [target, out] of [['onnx', 'm.onnx'], ['tflite', 'm.tflite'], ['tfjs', 'm_tfjs']] as const) {
      const report = await convert(original, { target, out: join(work, out) });
      assert.equal(report.out, join(work, out));
      // .tflite files do not record the eval crop and filter: the options give them.
      const converted = await loadModel(report.out, { cropPct: original.cropPct, interpolation: original.interpolation });
      assert.equal(converted.runtime, target);
      assert.deepEqual(converted.classes, CLASSES);
      const got = await converted.classify(png);
      assert.deepEqual(got.map((c) => c.label), expected.map((c) => c.label), target);
      got.forEach((c, i) => assert.ok(Math.abs(c.probability - expected[i].probability) < 1e-4, `${target}: ${c.probability} vs ${expected[i].probability}`));
      await assert.rejects(converted.save(join(work, `${target}-ckpt`)), UsageError);
      await converted.dispose();
    }
    await original.dispose();
  });
});

describe('profile', () => {
  test('one row for a loaded model, counts without latency', async () => {
    const model = await loadModel(checkpoint);
    const [row] = await profile({ model, latency: false });
    assert.equal(row.inputSize, 32);
    assert.equal(row.numClasses, 4);
    assert.ok(row.params > 0 && row.latencyMs === null);
    await model.dispose();
  });
});

describe('errors carry their exit codes', () => {
  const rejectsWith = async (promise: Promise<unknown>, type: new (...args: never[]) => MnextError, exitCode: number, message: RegExp) => {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof type, `${String(error)} is a ${type.name}`);
      assert.ok(error instanceof MnextError);
      assert.equal(error.exitCode, exitCode);
      assert.match(error.message, message);
      return true;
    });
  };

  test('bad paths and names, bad images and options: exit code 2', async () => {
    await rejectsWith(loadModel(join(work, 'missing.pth')), InputError, 2, /no such file/);
    await rejectsWith(createModel('resnet50'), InvalidModelError, 2, /unknown model 'resnet50'/);
    await rejectsWith(loadModel(checkpoint, { cropPct: 2 }), UsageError, 2, /cropPct: expected a number in \(0, 1\], got 2/);
    await rejectsWith(parity(join(work, 'missing.json')), InputError, 2, /fixture not found/);
    await rejectsWith(train({ lr: -1 }), UsageError, 2, /lr: expected a positive number, got -1/);
    await rejectsWith(train('no_such_recipe'), UsageError, 2, /no bundled recipe/);
    const model = await loadModel(checkpoint);
    await rejectsWith(model.classify(Buffer.from('not an image')), InputError, 2, /cannot classify image 0 \(bytes\): not an image/);
    await rejectsWith(model.classify(png, { topK: 0 }), UsageError, 2, /topK: expected a positive integer, got 0/);
    await model.dispose();
    await rejectsWith(model.classify(png), UsageError, 2, /was disposed/);
  });

  test('a check that fails: exit code 1', async () => {
    const onnx = join(work, 'check.onnx');
    await rejectsWith(convert(checkpoint, { target: 'onnx', out: onnx, tolerance: -1 }), CheckFailedError, 1, /differ from mnext's/);
  });

  test('train stopped by its AbortSignal: exit code 130, with a recovery checkpoint', async () => {
    const controller = new AbortController();
    const data = join(work, 'synthetic');
    let steps = 0;
    await rejectsWith(train({
      model: 'mobilenext_035', data, synthetic: true, num_classes: 2, synthetic_per_class: 4, synthetic_size: 36, img_size: 32, batch_size: 2,
      epochs: 2, warmup_epochs: 0, workers: 2, output: join(work, 'runs'),
    }, { signal: controller.signal, onStep: () => { steps += 1; controller.abort(); } }), InterruptedError, 130, /interrupted at epoch 0, step 1\/4; saved .*recovery/);
    assert.equal(steps, 1);
  });
});
