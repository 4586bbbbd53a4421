import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { readTfliteInfo, readTfliteOps, readTfliteShapes, writeTflite } from '../../../src/formats/tflite/index.js';
import { readTfliteBufferSizes } from '../../../src/formats/tflite/read.js';
import { compareLogits, randomInputBatch } from '../../../src/runtimes/compare.js';
import { loadTfliteRunner } from '../../../src/runtimes/litert.js';
import { loadFixture } from '../../../src/io/fixture.js';
import { InferenceModel, nchwToNhwc } from '../../../src/models/executor.js';
import { buildGraph, createModelGraph } from '../../../src/models/registry.js';
import { SYSTEM_PYTHON, tempDir } from '../../helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../../reference-fixtures.js';
import { META, armnnMissing, armnnOutputs, tfjsLogits } from './helpers.js';
import { livelyWeights } from '../../eval/helpers.js';
import { CONVERSION_CASES, PARITY_FIXTURES } from '../cases.js';

before(async () => {
  await initBackend();
});

const SIZE = 64;

/** A converted model with the tfjs model it came from. */
function convert(arch: string, width: number, tensorMultiplier: number, batch = 2) {
  const graph = createModelGraph(arch, { width, numClasses: 10, inputSize: SIZE, tensorMultiplier });
  const model = new InferenceModel(graph, livelyWeights(graph));
  const bytes = writeTflite(model.graph, { ...META, batch });
  return { model, bytes };
}

describe('TFLite float32 writer vs mnext tfjs logits (LiteRT)', () => {
  for (const c of CONVERSION_CASES) {
    test(`${c.arch} width ${c.width} k=${c.tensorMultiplier}`, async () => {
      const { model, bytes } = convert(c.arch, c.width, c.tensorMultiplier);
      const ops = readTfliteOps(bytes);
      if (c.tensorMultiplier > 1) assert.ok(ops.includes('SPLIT_V') && ops.includes('SLICE') && ops.includes('CONCATENATION'), 'partial identity as split + add + concat');
      const runner = await loadTfliteRunner(bytes);
      const input = randomInputBatch(2, SIZE, 11);
      const diff = compareLogits(await runner.run(input, 2), tfjsLogits(model, input, 2));
      runner.dispose();
      model.dispose();
      assert.ok(diff.scale > 0.1, `logit scale ${diff.scale} too small for a meaningful comparison`);
      assert.ok(diff.relative <= 1e-4, `max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }

  test('file layout: TFL3, empty buffer 0, fused RELU6 convs, PAD only for stride-2 convs, MEAN + RESHAPE head', () => {
    const { model, bytes } = convert('mobilenetv2', 0.35, 1, 1);
    model.dispose();
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'TFL3');
    assert.equal(readTfliteBufferSizes(bytes)[0], 0);
    const ops = readTfliteOps(bytes);
    const strideTwo = model.graph.nodes.filter((n) => n.op === 'conv' && n.stride === 2).length;
    assert.equal(ops.filter((op) => op === 'PAD').length, strideTwo, 'PyTorch padding at stride 2 needs PAD + VALID; stride 1 runs SAME');
    assert.ok(!ops.includes('RELU6'), 'ReLU6 is fused into the convs');
    assert.deepEqual(ops.slice(-3), ['MEAN', 'RESHAPE', 'FULLY_CONNECTED']);
    assert.deepEqual(readTfliteShapes(bytes).input.shape, [1, SIZE, SIZE, 3]);
  });

  test('metadata: labels file, mean/std, runtime version; the labels zip opens with a standard zip reader', () => {
    const { model, bytes } = convert('mobilenext', 0.35, 1, 1);
    model.dispose();
    const info = readTfliteInfo(bytes);
    assert.deepEqual(info.classes, META.classes);
    info.mean!.forEach((m, i) => assert.ok(Math.abs(m - META.mean[i]) < 1e-6));
    info.std!.forEach((s, i) => assert.ok(Math.abs(s - META.std[i]) < 1e-6));
    assert.equal(info.minRuntimeVersion, '1.14.0');
    const dir = tempDir('mnext-tflite-zip-');
    try {
      writeFileSync(join(dir, 'model.tflite'), bytes);
      const script = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read("labels.txt").decode(), end="")';
      const run = spawnSync(SYSTEM_PYTHON, ['-c', script, join(dir, 'model.tflite')], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `${META.classes.join('\n')}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('softmax option outputs probabilities; other batch sizes run in chunks of the file batch', async () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: 32 });
    const model = new InferenceModel(graph, livelyWeights(graph));
    const runner = await loadTfliteRunner(writeTflite(model.graph, { ...META, softmax: true }));
    const input = randomInputBatch(3, 32, 2);
    const probs = await runner.run(input, 3);
    const expected = tf.tidy(() => tf.softmax(tf.tensor2d(tfjsLogits(model, input, 3), [3, 10])).dataSync());
    assert.ok(compareLogits(probs, expected).maxAbs < 1e-5);
    assert.deepEqual(runner.classes, META.classes);
    runner.dispose();
    model.dispose();
  });
});

describe('TFLite in Arm NN (ITfLiteParser on CpuRef): the same files load and match', { skip: armnnMissing }, () => {
  for (const c of [{ arch: 'mobilenext', width: 0.5, k: 2 }, { arch: 'mobilenetv2', width: 0.5, k: 1 }, { arch: 'mnext_l', width: 1.0, k: 1 }]) {
    test(`${c.arch} width ${c.width} k=${c.k}`, () => {
      const { model, bytes } = convert(c.arch, c.width, c.k, 1);
      const input = randomInputBatch(2, SIZE, 3);
      const expected = tfjsLogits(model, input, 2);
      model.dispose();
      const diff = compareLogits(armnnOutputs(bytes, input).flat(), expected);
      assert.ok(diff.scale > 0.1);
      assert.ok(diff.relative <= 1e-4, `Arm NN max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }
});

describe('TFLite parity with PyTorch fixtures (LiteRT)', { skip: referenceFixturesMissing }, () => {
  for (const name of PARITY_FIXTURES) {
    test(name, async () => {
      const fixture = loadFixture(referenceFixture(name));
      const model = new InferenceModel(buildGraph(fixture.spec), fixture.weights);
      const runner = await loadTfliteRunner(writeTflite(model.graph, { mean: META.mean, std: META.std }));
      model.dispose();
      const input = tf.tidy(() => nchwToNhwc(fixture.input, fixture.inputShape).dataSync() as Float32Array);
      const logits = await runner.run(input, fixture.inputShape[0]);
      runner.dispose();
      const diff = compareLogits(logits, fixture.logits.flat());
      assert.ok(diff.maxAbs <= 1e-3 && diff.relative <= 1e-4, `max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }
});
