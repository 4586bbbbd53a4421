import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { runParity } from '../../src/eval/parity.js';
import { loadFixture } from '../../src/io/fixture.js';
import { FIXTURES_DIR, SYSTEM_PYTHON, fixturesMissing, pythonHas, tempDir } from '../helpers.js';

/** Shipped fixtures (official PyTorch code). Adding one is adding its name here. */
const SHIPPED = ['mnext_050_64_c10', 'mnext_100_64_c10_tm2', 'mobilenetv2_100_224', 'mnext_100_224'];

/**
 * Fixtures generated here by scripts/torch_reference.py (whose MXNet reproduces every official fixture to
 * 5e-7, checked below): other widths, class counts, tensor multipliers and odd input sizes.
 */
const GENERATED: string[][] = [
  ['--model', 'mnext', '--width', '0.35', '--num-classes', '7', '--input-size', '31'],
  ['--model', 'mnext', '--width', '0.75', '--num-classes', '10', '--input-size', '100', '--tensor-multiplier', '3'],
  ['--model', 'mnext', '--width', '1.4', '--num-classes', '5', '--input-size', '47', '--tensor-multiplier', '4'],
  ['--model', 'mnext', '--width', '1.0', '--num-classes', '3', '--input-size', '33', '--tensor-multiplier', '6'],
  ['--model', 'mbv2', '--width', '0.5', '--num-classes', '12', '--input-size', '100'],
  ['--model', 'mbv2', '--width', '1.4', '--num-classes', '4', '--input-size', '31'],
];

const TOLERANCE = 1e-3;
const torchMissing = fixturesMissing || (pythonHas('torch') && pythonHas('torchvision') ? false : 'python3-torch / python3-torchvision not installed');

function checkFixture(path: string): void {
  const result = runParity(loadFixture(path));
  assert.ok(result.maxAbsDiff <= TOLERANCE, `eval forward max |Δ| ${result.maxAbsDiff}`);
  assert.ok(result.foldedMaxAbsDiff <= TOLERANCE, `folded forward max |Δ| ${result.foldedMaxAbsDiff}`);
  assert.ok(result.argmaxAgree, 'argmax per row agrees');
}

const generatedDir = tempDir('mnext-fixtures-');
const generated = torchMissing ? [] : GENERATED.map((args, i) => {
  const out = join(generatedDir, `generated_${i}.json`);
  const run = spawnSync(SYSTEM_PYTHON, ['scripts/torch_reference.py', 'make', ...args, '--seed', String(i), '--batch', '2', '--out', out]);
  assert.equal(run.status, 0, run.stderr?.toString());
  return { name: args.join(' '), path: out };
});

for (const backend of ['wasm', 'cpu']) {
  describe(`parity with the official PyTorch models on ${backend}`, () => {
    test('backend loads', async () => {
      assert.equal(await initBackend(backend), backend);
    });
    for (const name of SHIPPED) {
      test(`${name} (shipped fixture)`, { skip: fixturesMissing }, () => {
        const before = tf.memory().numTensors;
        checkFixture(join(FIXTURES_DIR, `${name}.json`));
        assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
      });
    }
    for (const fixture of generated) {
      test(`generated: ${fixture.name}`, () => checkFixture(fixture.path));
    }
  });
}

test('the PyTorch reference used to generate fixtures reproduces every shipped official fixture', { skip: torchMissing }, () => {
  for (const name of SHIPPED) {
    const run = spawnSync(SYSTEM_PYTHON, ['scripts/torch_reference.py', 'check', join(FIXTURES_DIR, `${name}.json`)]);
    assert.equal(run.status, 0, run.stderr?.toString());
    const { maxAbsDiff } = JSON.parse(run.stdout.toString().trim().split('\n').pop()!) as { maxAbsDiff: number };
    assert.ok(maxAbsDiff < 1e-5, `${name}: ${maxAbsDiff}`);
  }
});

test('a wrong weight breaks parity (the check can fail)', { skip: fixturesMissing }, async () => {
  await initBackend('wasm');
  const fixture = loadFixture(join(FIXTURES_DIR, 'mnext_050_64_c10.json'));
  const weights = new Map(fixture.weights);
  const bn = weights.get('features.5.conv.9.running_var')!;
  weights.set('features.5.conv.9.running_var', { shape: bn.shape, data: bn.data.map((v) => v * 4) });
  assert.ok(runParity(fixture, weights).maxAbsDiff > TOLERANCE);
});

after(() => undefined);
