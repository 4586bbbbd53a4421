import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { initBackend } from '../../../src/backend/index.js';
import { convertModel } from '../../../src/convert/index.js';
import { compareLogits, randomInputBatch } from '../../../src/runtimes/compare.js';
import { loadFixture } from '../../../src/io/fixture.js';
import { InferenceModel, nchwToNhwc } from '../../../src/models/executor.js';
import { createModelGraph } from '../../../src/models/registry.js';
import { livelyWeights } from '../../eval/helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../../reference-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'mnext-tfjs-'));

/** What an app without mnext does: read model.json and the weight files, hand them to tfjs-converter. */
async function loadPlain(dir: string): Promise<GraphModel> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths.map((p) => readFileSync(join(dir, p))));
  const data = Buffer.concat(weights);
  return loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
      format: json.format,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  });
}

function runPlain(model: GraphModel, input: Float32Array, batch: number, size: number): Float32Array {
  return tf.tidy(() => (model.execute(tf.tensor4d(input, [batch, size, size, 3])) as tf.Tensor).dataSync() as Float32Array);
}

before(async () => {
  await initBackend();
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('TF.js graph-model export runs in plain tfjs-converter', () => {
  const cases = [
    { arch: 'mobilenext', width: 1.0, tensorMultiplier: 2 },
    { arch: 'mobilenetv2', width: 0.5, tensorMultiplier: 1 },
    { arch: 'mnext_l', width: 1.0, tensorMultiplier: 1 },
  ];
  for (const c of cases) {
    test(`${c.arch} width ${c.width} k=${c.tensorMultiplier}`, async () => {
      const size = 64;
      const spec = { arch: c.arch, width: c.width, numClasses: 10, inputSize: size, tensorMultiplier: c.tensorMultiplier, dropRate: 0.2, dropConnectRate: 0 };
      const graph = createModelGraph(c.arch, spec);
      const weights = livelyWeights(graph);
      const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
      const out = join(work, `${c.arch}_${c.tensorMultiplier}`);
      const report = await convertModel({ spec: graph.spec, weights, classes, origin: 'test' }, { target: 'tfjs', out });
      assert.ok(report.verification.relativeDiff <= 1e-4);
      const model = await loadPlain(out);
      assert.deepEqual((model.metadata as { classes: string[] }).classes, classes);
      const reference = new InferenceModel(graph, weights);
      const input = randomInputBatch(3, size, 11);
      const expected = tf.tidy(() => reference.predict(tf.tensor4d(input, [3, size, size, 3])).dataSync() as Float32Array);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i += 1) {
        const diff = compareLogits(runPlain(model, input, 3, size), expected);
        assert.ok(diff.scale > 0.1 && diff.relative <= 1e-4, `max |Δ| ${diff.maxAbs} at scale ${diff.scale}`);
      }
      assert.equal(tf.memory().numTensors, before, 'running the graph model leaks no tensors');
      reference.dispose();
      model.dispose();
    });
  }
});

describe('TF.js export parity with PyTorch fixtures', { skip: referenceFixturesMissing }, () => {
  for (const name of ['mnext_100_64_c10_tm2', 'mnext_s_224'] as const) {
    test(name, async () => {
      const fixture = loadFixture(referenceFixture(name));
      const out = join(work, name);
      await convertModel({ spec: fixture.spec, weights: fixture.weights, origin: name }, { target: 'tfjs', out });
      const model = await loadPlain(out);
      const input = tf.tidy(() => nchwToNhwc(fixture.input, fixture.inputShape).dataSync() as Float32Array);
      const diff = compareLogits(runPlain(model, input, fixture.inputShape[0], fixture.spec.inputSize), fixture.logits.flat());
      model.dispose();
      assert.ok(diff.relative <= 1e-4, `max |Δ| ${diff.maxAbs} at logit scale ${diff.scale}`);
    });
  }
});
