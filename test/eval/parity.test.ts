import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { runParity } from '../../src/eval/parity.js';
import { loadFixture } from '../../src/io/fixture.js';
import { type ReferenceFixtureName, referenceFixture, referenceFixturesMissing } from '../reference-fixtures.js';

/**
 * PyTorch fixtures (made by the twin's models, python/mnext_torch, which reproduce the official fixtures): the
 * official set's cases, then other widths, class counts, tensor multipliers and odd input sizes.
 */
const FIXTURES: readonly ReferenceFixtureName[] = [
  'mnext_050_64_c10', 'mnext_100_64_c10_tm2', 'mobilenetv2_100_224', 'mnext_100_224',
  'mnext_035_31_c7', 'mnext_075_100_c10_tm3', 'mnext_140_47_c5_tm4', 'mnext_100_33_c3_tm6', 'mobilenetv2_050_100_c12', 'mobilenetv2_140_31_c4',
];

const TOLERANCE = 1e-3;

function checkFixture(path: string): void {
  const result = runParity(loadFixture(path));
  assert.ok(result.maxAbsDiff <= TOLERANCE, `eval forward max |Δ| ${result.maxAbsDiff}`);
  assert.ok(result.foldedMaxAbsDiff <= TOLERANCE, `folded forward max |Δ| ${result.foldedMaxAbsDiff}`);
  assert.ok(result.argmaxAgree, 'argmax per row agrees');
}

for (const backend of ['wasm', 'cpu']) {
  describe(`parity with the PyTorch models on ${backend}`, () => {
    test('backend loads', async () => {
      assert.equal(await initBackend(backend), backend);
    });
    for (const name of FIXTURES) {
      test(name, { skip: referenceFixturesMissing }, () => {
        const before = tf.memory().numTensors;
        checkFixture(referenceFixture(name));
        assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
      });
    }
  });
}

test('a wrong weight breaks parity (the check can fail)', { skip: referenceFixturesMissing }, async () => {
  await initBackend('wasm');
  const fixture = loadFixture(referenceFixture('mnext_050_64_c10'));
  const weights = new Map(fixture.weights);
  const bn = weights.get('features.5.conv.9.running_var')!;
  weights.set('features.5.conv.9.running_var', { shape: bn.shape, data: bn.data.map((v) => v * 4) });
  assert.ok(runParity(fixture, weights).maxAbsDiff > TOLERANCE);
});
