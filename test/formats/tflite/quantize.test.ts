import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { calibrateRanges, readTfliteOps, readTfliteShapes, writeTflite } from '../../../src/formats/tflite/index.js';
import { lowerToTflite } from '../../../src/formats/tflite/lower.js';
import { activationQuant, quantizeGraph } from '../../../src/formats/tflite/quantize.js';
import { TensorType } from '../../../src/formats/tflite/schema.js';
import { compareLogits, randomInputBatch } from '../../../src/runtimes/compare.js';
import { loadTfliteRunner } from '../../../src/runtimes/litert.js';
import { InputError } from '../../../src/errors.js';
import { InferenceModel } from '../../../src/models/executor.js';
import { INPUT_ID } from '../../../src/models/graph.js';
import { createModelGraph } from '../../../src/models/registry.js';
import { META, tfjsLogits } from './helpers.js';
import { livelyWeights } from '../../eval/helpers.js';

before(async () => {
  await initBackend();
});

const SIZE = 32;

async function calibrated(arch: string, width: number, tensorMultiplier: number) {
  const graph = createModelGraph(arch, { width, numClasses: 10, inputSize: SIZE, tensorMultiplier });
  const model = new InferenceModel(graph, livelyWeights(graph));
  const batches = [0, 1, 2].map((i) => ({ data: randomInputBatch(8, SIZE, 100 + i), batch: 8 }));
  // min/max ranges: these tests measure how closely the int8 kernels track every logit, which the default
  // (mse) ranges trade for finer steps where the top classes compete (tested on a trained model in int8-trained).
  return { model, ranges: await calibrateRanges(model, batches, 'minmax') };
}

describe('int8 post-training quantisation', () => {
  test('activation parameters cover the range (to half a step: 0 is nudged onto the grid) and represent 0 exactly', () => {
    for (const range of [{ min: -3.2, max: 5.1 }, { min: 0, max: 6 }, { min: 0.5, max: 2 }, { min: -4, max: -1 }]) {
      const q = activationQuant(range);
      const [scale, zero] = [q.scale[0], q.zeroPoint[0]];
      assert.ok(Number.isInteger(zero) && zero >= -128 && zero <= 127);
      const [low, high] = [(-128 - zero) * scale, (127 - zero) * scale];
      assert.ok(low <= Math.min(range.min, 0) + scale / 2 && high >= Math.max(range.max, 0) - scale / 2, `${JSON.stringify(range)}: [${low}, ${high}]`);
      assert.ok(Math.abs(high - low - (Math.max(range.max, 0) - Math.min(range.min, 0))) < 1e-9);
    }
  });

  test('calibration records every node output and the input, and frees its tensors', async () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: SIZE, tensorMultiplier: 2 });
    const model = new InferenceModel(graph, livelyWeights(graph));
    const before = tf.memory().numTensors;
    const ranges = await calibrateRanges(model, [{ data: randomInputBatch(4, SIZE, 1), batch: 4 }, { data: randomInputBatch(4, SIZE, 2), batch: 4 }]);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(ranges.size, model.graph.nodes.length + 1);
    assert.ok(ranges.get(INPUT_ID)!.min < -2 && ranges.get(INPUT_ID)!.max > 2);
    const relu6 = model.graph.nodes.find((n) => n.op === 'conv' && n.activation === 'relu6')!;
    assert.ok(ranges.get(relu6.id)!.min >= 0 && ranges.get(relu6.id)!.max <= 6);
    model.dispose();
  });

  test('weights int8 per output channel, biases int32 at input x weight scale; byte-copy ops share one scale', async () => {
    const { model, ranges } = await calibrated('mobilenext', 0.35, 2);
    const g = quantizeGraph(lowerToTflite(model.graph, { batch: 1, softmax: false }), ranges, { int8Io: false });
    model.dispose();
    for (const op of g.ops.filter((o) => o.op === 'CONV_2D' || o.op === 'DEPTHWISE_CONV_2D')) {
      const [input, filter, bias] = op.inputs.map((i) => g.tensors[i]);
      const channels = op.op === 'CONV_2D' ? filter.shape[0] : filter.shape[3];
      assert.equal(filter.type, 'INT8');
      assert.equal(filter.quant!.scale.length, channels);
      assert.equal(bias.type, 'INT32');
      bias.quant!.scale.forEach((s, c) => assert.ok(Math.abs(s - input.quant!.scale[0] * filter.quant!.scale[c]) <= 1e-12 * s + 1e-30));
    }
    for (const op of g.ops.filter((o) => ['PAD', 'SPLIT_V', 'SLICE', 'CONCATENATION', 'RESHAPE'].includes(o.op))) {
      const activations = [...op.inputs, ...op.outputs].filter((i) => !g.tensors[i].data);
      const quant = activations.map((i) => `${g.tensors[i].quant!.scale[0]}/${g.tensors[i].quant!.zeroPoint[0]}`);
      assert.equal(new Set(quant).size, 1, `${op.op} mixes scales: ${quant.join(', ')}`);
    }
    assert.equal(g.ops[0].op, 'QUANTIZE');
    assert.equal(g.ops[g.ops.length - 1].op, 'DEQUANTIZE');
    assert.ok(g.tensors.every((t) => t.type !== 'FLOAT32' || g.inputs.includes(g.tensors.indexOf(t)) || g.outputs.includes(g.tensors.indexOf(t))), 'only the I/O stays float');
  });

  // Budgets: a few quantisation steps of the logit range. Swish + squeeze-excite nets (mnext_s) lose more:
  // every sigmoid gate is cut to 1/256 steps and multiplied back in.
  const cases = [
    { arch: 'mobilenext', width: 0.5, k: 2, budget: 0.05 },
    { arch: 'mobilenetv2', width: 0.5, k: 1, budget: 0.05 },
    { arch: 'mnext_s', width: 1.0, k: 1, budget: 0.1 },
  ];
  for (const c of cases) {
    test(`${c.arch} width ${c.width} k=${c.k}: runs in LiteRT close to the float model, well under half the size`, async () => {
      const { model, ranges } = await calibrated(c.arch, c.width, c.k);
      const int8 = writeTflite(model.graph, { ...META, quantize: { ranges } });
      const float = writeTflite(model.graph, META);
      // Weights shrink 4x; per-channel scales and int64 zero points (the schema's type) and int32 biases do not.
      assert.ok(int8.length < 0.4 * float.length, `int8 ${int8.length} bytes vs float ${float.length}`);
      assert.equal(readTfliteShapes(int8).input.type, TensorType.FLOAT32);
      const runner = await loadTfliteRunner(int8);
      const input = randomInputBatch(4, SIZE, 9);
      const diff = compareLogits(await runner.run(input, 4), tfjsLogits(model, input, 4));
      runner.dispose();
      model.dispose();
      assert.ok(diff.relative < c.budget, `int8 max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }

  test('--int8-io keeps int8 input/output tensors; LiteRT.js cannot feed them and says so', async () => {
    const { model, ranges } = await calibrated('mobilenext', 0.35, 1);
    const bytes = writeTflite(model.graph, { ...META, quantize: { ranges, int8Io: true } });
    model.dispose();
    const ops = readTfliteOps(bytes);
    assert.ok(!ops.includes('QUANTIZE') && !ops.includes('DEQUANTIZE'));
    assert.equal(readTfliteShapes(bytes).input.type, TensorType.INT8);
    assert.equal(readTfliteShapes(bytes).output.type, TensorType.INT8);
    await assert.rejects(loadTfliteRunner(bytes), (error: unknown) => error instanceof InputError && /int8 input\/output/.test(error.message));
  });
});
