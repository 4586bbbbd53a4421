// Tests src/profile/runtimes.ts and src/profile/plot.ts (kept under test/eval: the runners they time live in src/eval).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { writeLatencyPlot } from '../../src/profile/plot.js';
import { measureRuntimeLatency } from '../../src/profile/runtimes.js';
import { tempDir } from '../helpers.js';

const work = tempDir('mnext-latency-');
before(async () => {
  await initBackend();
});
after(() => rmSync(work, { recursive: true, force: true }));

test('measureRuntimeLatency times onnx, tfjs and tflite runners and states threads', async () => {
  const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 10, inputSize: 32 });
  const weights = initStateDict(graph, 1);
  const tensors = tf.memory().numTensors;
  const onnx = await measureRuntimeLatency('onnx', graph, weights, { batch: 1, runs: 5, warmup: 1, threads: 1 });
  assert.equal(onnx.threads, 1);
  assert.ok(onnx.medianMs > 0 && onnx.p90Ms >= onnx.medianMs);
  const tfjs = await measureRuntimeLatency('tfjs', graph, weights, { batch: 2, runs: 3, warmup: 1, inputSize: 48 });
  assert.equal(tfjs.runtime, 'tfjs');
  assert.ok(tfjs.threads >= 0 && tfjs.medianMs > 0);
  assert.equal(tf.memory().numTensors, tensors, 'the tfjs runner is disposed after timing');
  const tflite = await measureRuntimeLatency('tflite', graph, weights, { batch: 1, runs: 3, warmup: 1 });
  assert.equal(tflite.threads, 1);
  assert.ok(tflite.medianMs > 0);
});

test('writeLatencyPlot renders a PNG of latency vs MAdds per family', async () => {
  const path = join(work, 'latency.png');
  await writeLatencyPlot(path, [
    { series: 'mobilenext (onnx)', label: '1.0', madds: 311e6, latencyMs: 4.1 },
    { series: 'mobilenext (onnx)', label: '0.5', madds: 110e6, latencyMs: 2.0 },
    { series: 'mobilenetv2 (onnx)', label: '1.0', madds: 300e6, latencyMs: 3.8 },
  ], 'latency vs MAdds, 224x224, batch 1');
  const meta = await sharp(path).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 720);
});
