import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { readModelMetadata } from '../../../src/formats/onnx/messages.js';
import { readFields } from '../../../src/formats/onnx/proto.js';
import { writeOnnx } from '../../../src/formats/onnx/writer.js';
import { compareLogits, randomInputBatch } from '../../../src/runtimes/compare.js';
import { loadOnnxRunner } from '../../../src/runtimes/onnx.js';
import { loadFixture } from '../../../src/io/fixture.js';
import { InferenceModel, nchwToNhwc } from '../../../src/models/executor.js';
import { foldBatchNorm } from '../../../src/models/fold.js';
import { buildGraph, createModelGraph } from '../../../src/models/registry.js';
import { livelyWeights } from '../../eval/helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../../reference-fixtures.js';
import { CONVERSION_CASES, PARITY_FIXTURES } from '../cases.js';

const META = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], classes: Array.from({ length: 10 }, (_, i) => `class${i}`) };

async function tfjsLogits(model: InferenceModel, input: Float32Array, batch: number, size: number): Promise<Float32Array> {
  const logits = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, size, size, 3])));
  const data = (await logits.data()) as Float32Array;
  logits.dispose();
  return data;
}

/** op_type of every node in an encoded model (ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4). */
function opTypes(bytes: Uint8Array): string[] {
  const graph = readFields(bytes).find((f) => f.field === 7)!.value as Uint8Array;
  return readFields(graph).filter((f) => f.field === 1).map((f) => {
    const op = readFields(f.value as Uint8Array).find((g) => g.field === 4)!.value as Uint8Array;
    return new TextDecoder().decode(op);
  });
}

before(async () => {
  await initBackend();
});

describe('ONNX writer vs mnext tfjs logits (onnxruntime-node)', () => {
  for (const c of CONVERSION_CASES) {
    test(`${c.arch} width ${c.width} k=${c.tensorMultiplier}`, async () => {
      const size = 64;
      const graph = createModelGraph(c.arch, { width: c.width, numClasses: 10, inputSize: size, tensorMultiplier: c.tensorMultiplier });
      const weights = livelyWeights(graph);
      const bytes = writeOnnx(foldBatchNorm(graph, weights), META);
      const ops = opTypes(bytes);
      assert.ok(!ops.includes('ScatterND'), 'partial identity must not use ScatterND');
      if (c.tensorMultiplier > 1) assert.ok(ops.includes('Slice') && ops.includes('Concat'));
      const runner = await loadOnnxRunner(bytes, { threads: 1 });
      const model = new InferenceModel(graph, weights);
      const input = randomInputBatch(2, size);
      const expected = await tfjsLogits(model, input, 2, size);
      const diff = compareLogits(await runner.run(input, 2), expected);
      model.dispose();
      await runner.dispose();
      assert.ok(diff.scale > 0.1, `logit scale ${diff.scale} too small for a meaningful comparison`);
      assert.ok(diff.relative <= 1e-4, `max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }

  test('batch axis is dynamic and metadata round-trips', async () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: 32 });
    const bytes = writeOnnx(foldBatchNorm(graph, livelyWeights(graph)), META);
    const metadata = readModelMetadata(bytes);
    assert.equal(metadata.labels, META.classes.join('\n'));
    assert.deepEqual(JSON.parse(metadata.mean), META.mean);
    assert.equal(JSON.parse(metadata.mnext_spec).tensorMultiplier, 1);
    const runner = await loadOnnxRunner(bytes, { threads: 1 });
    assert.deepEqual(runner.classes, META.classes);
    assert.deepEqual(runner.std, META.std);
    assert.equal(runner.inputSize, 32);
    const three = await runner.run(randomInputBatch(3, 32, 5), 3);
    const one = await runner.run(randomInputBatch(3, 32, 5).subarray(0, 32 * 32 * 3), 1);
    assert.equal(three.length, 30);
    assert.ok(compareLogits(one, three.subarray(0, 10)).relative < 1e-5);
    await runner.dispose();
  });
});

describe('ONNX parity with PyTorch fixtures', { skip: referenceFixturesMissing }, () => {
  for (const name of PARITY_FIXTURES) {
    test(name, async () => {
      const fixture = loadFixture(referenceFixture(name));
      const graph = buildGraph(fixture.spec);
      const runner = await loadOnnxRunner(writeOnnx(foldBatchNorm(graph, fixture.weights), META), { threads: 2 });
      const input = tf.tidy(() => nchwToNhwc(fixture.input, fixture.inputShape).dataSync() as Float32Array);
      const logits = await runner.run(input, fixture.inputShape[0]);
      await runner.dispose();
      const diff = compareLogits(logits, fixture.logits.flat());
      assert.ok(diff.relative <= 1e-4 && diff.maxAbs <= 1e-3, `max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }
});
