import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readModelMetadata } from '../../src/formats/onnx/messages.js';
import { generateSyntheticDataset } from '../../src/data/index.js';
import { runCli, tempDir } from '../helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../reference-fixtures.js';

const work = tempDir('mnext-convert-');
after(() => rmSync(work, { recursive: true, force: true }));

describe('mnext convert', () => {
  test('model name -> onnx with --json verification report', async () => {
    const out = join(work, 'small.onnx');
    const { code, stdout, stderr } = await runCli('convert', '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '--num-classes', '5',
      '--tensor-multiplier', '2', '--to', 'onnx', '--out', out, '--json');
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.target, 'onnx');
    assert.equal(report.tensorMultiplier, 2);
    assert.equal(report.verification.runtime, 'onnx');
    assert.ok(report.verification.relativeDiff <= 1e-4);
    assert.equal(report.bytes, readFileSync(out).length);
    const metadata = readModelMetadata(new Uint8Array(readFileSync(out)));
    assert.deepEqual(JSON.parse(metadata.mean), [0.485, 0.456, 0.406]);
  });

  test('fixture -> tfjs folder, text report names the max |Δ|', { skip: referenceFixturesMissing }, async () => {
    const out = join(work, 'fixture_tfjs');
    const { code, stdout, stderr } = await runCli('convert', '--model', referenceFixture('mnext_050_64_c10'), '--to', 'tfjs', '--out', out);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /verified in tfjs .* max \|Δ\| /);
    assert.ok(existsSync(join(out, 'model.json')) && existsSync(join(out, 'group1-shard1of1.bin')) && existsSync(join(out, 'README.md')));
    assert.ok(!existsSync(`${out}.tmp`));
  });

  test('fixture -> float tflite verified in LiteRT', { skip: referenceFixturesMissing }, async () => {
    const out = join(work, 'tm2.tflite');
    const { code, stdout, stderr } = await runCli('convert', '--model', referenceFixture('mnext_100_64_c10_tm2'), '--to', 'tflite', '--out', out, '--json');
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.verification.runtime, 'tflite');
    assert.ok(report.verification.relativeDiff <= 1e-4);
    assert.equal(readFileSync(out).subarray(4, 8).toString('latin1'), 'TFL3');
  });

  test('int8 tflite calibrated on a real image folder runs in LiteRT and reports agreement', async () => {
    const images = join(work, 'calib');
    await generateSyntheticDataset(images, { classes: 3, perClass: 4, size: 40, seed: 1, valFraction: 1 });
    const out = join(work, 'small_int8.tflite');
    const { code, stdout, stderr } = await runCli('convert', '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '--num-classes', '3',
      '--to', 'tflite', '--quantize', 'int8', '--calibration', images, '--calibration-images', '8', '--out', out, '--json');
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.quantize, 'int8');
    assert.ok(Number.isFinite(report.verification.maxAbsDiff));
    assert.ok(report.verification.top1Agreement >= 0 && report.verification.top1Agreement <= 1);
  });

  test('bad usage exits 2 with one sentence', async () => {
    const bad = await runCli('convert', '--model', 'mobilenext', '--to', 'coreml');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--to: expected one of tflite, onnx, tfjs, got 'coreml'/);
    const noCalibration = await runCli('convert', '--model', 'mobilenext', '--to', 'tflite', '--quantize', 'int8');
    assert.equal(noCalibration.code, 2);
    assert.match(noCalibration.stderr, /needs --calibration/);
    const onnxInt8 = await runCli('convert', '--model', 'mobilenext', '--to', 'onnx', '--quantize', 'int8', '--calibration', work);
    assert.equal(onnxInt8.code, 2);
    const missing = await runCli('convert', '--model', join(work, 'missing.pth'), '--to', 'onnx');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
  });
});
