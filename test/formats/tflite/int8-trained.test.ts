import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src/backend/index.js';
import { type CalibrationBatch, calibrateRanges, readTfliteInfo, readTfliteShapes, writeTflite } from '../../../src/formats/tflite/index.js';
import { TensorType } from '../../../src/formats/tflite/schema.js';
import { DEFAULT_FASHION_MNIST_DIR, convertFashionMnist } from '../../../src/data/index.js';
import { openEvalData } from '../../../src/data/eval-data.js';
import { loadTfliteRunner } from '../../../src/runtimes/litert.js';
import { loadModelSource } from '../../../src/io/model-source.js';
import { InferenceModel } from '../../../src/models/executor.js';
import { buildGraph } from '../../../src/models/registry.js';
import { runCli, tempDir } from '../../helpers.js';
import { tfjsLogits } from './helpers.js';

/**
 * int8 quality needs a model whose decisions depend on the image: untrained networks either ignore their input
 * or are chaotic in it (0.01 of input noise flips a third of their top-1 answers), so agreement with them says
 * nothing. The fixtures are MobileNeXt-1.0 at 32 px and MobileNeXt-0.35 with tensor multiplier 2 at 64 px, trained
 * with `mnext train` on all 60,000 Fashion-MNIST training images (see fixtures/README.md); calibration and
 * evaluation use real Fashion-MNIST
 * images through the data pipeline's eval transforms, calibration on train images, evaluation on val images.
 */
const FIXTURE_100 = join(import.meta.dirname, 'fixtures', 'fashion_mobilenext_100');
const FIXTURE_035_K2 = join(import.meta.dirname, 'fixtures', 'fashion_mobilenext_035_k2');
const missing = existsSync(DEFAULT_FASHION_MNIST_DIR) ? false : `Fashion-MNIST not found at ${DEFAULT_FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;

let data: string;

function argmax(logits: Float32Array, row: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c += 1) if (logits[row * classes + c] > logits[row * classes + best]) best = c;
  return best;
}

async function readAll(batches: AsyncIterable<{ images: Float32Array; labels: Int32Array }>, limit: number): Promise<{ images: Float32Array; labels: number[] }> {
  const chunks: Float32Array[] = [];
  const labels: number[] = [];
  for await (const batch of batches) {
    chunks.push(batch.images);
    labels.push(...batch.labels);
    if (labels.length >= limit) break;
  }
  const images = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((offset, c) => (images.set(c, offset), offset + c.length), 0);
  return { images, labels };
}

describe('int8 on a trained model and real images (Fashion-MNIST)', { skip: missing }, () => {
  before(async () => {
    await initBackend();
    data = join(tempDir('mnext-int8-'), 'fashion');
    await convertFashionMnist(DEFAULT_FASHION_MNIST_DIR, data, { limitTrain: 1000 });
  });

  // The target is >= 99% agreement and top-1 within 0.5 points, on all 10,000 val images. Calibrated on
  // 1,000 training images through each model's own eval transform (crop 1.0, bilinear), with mse ranges (the CLI's
  // defaults), the two fixtures measure 98.99% (MobileNeXt-1.0; 99.13% with the CLI's own 1,000-image sample) and
  // 99.14% (MobileNeXt-0.35 k = 2); which 1,000 images calibrate moves agreement by about ±0.15 points, so the
  // bounds sit 0.5 under the measurements: tight enough to catch a regression in the quantiser (min/max ranges
  // alone cost 0.5–1 point), loose enough not to trip on the sample. docs/accuracy.md has the measurements.
  const cases = [
    // MobileNeXt-1.0, 32 px, 87.74% float top-1 after 5 epochs on all 60,000 training images.
    { fixture: FIXTURE_100, minAgreement: 0.985, maxTop1Change: 0.5 },
    // MobileNeXt-0.35 k = 2 (partial identity: the int8 SPLIT_V + ADD + CONCATENATION path), 64 px, 87.65%.
    { fixture: FIXTURE_035_K2, minAgreement: 0.985, maxTop1Change: 0.5 },
  ];

  for (const { fixture, minAgreement, maxTop1Change } of cases) test(`${basename(fixture)}: int8 agrees with float on real images, keeps top-1, and runs in LiteRT`, async (t) => {
    const source = await loadModelSource(fixture);
    const model = new InferenceModel(buildGraph(source.spec), source.weights);
    const mean = source.mean!;
    const std = source.std!;
    const size = source.spec.inputSize;
    const { cropPct, interpolation } = source;
    assert.deepEqual([cropPct, interpolation], [1, 'bilinear'], 'the fixture records the eval transform it was trained with');
    const per = size * size * 3;
    const calibration = await readAll(openEvalData(join(data, 'train'), { batch: 50, imageSize: size, mean, std, cropPct, interpolation, shuffle: true, seed: 3 }).batches, 1000);
    const batches: CalibrationBatch[] = Array.from({ length: 20 }, (_, i) => i).map((i) => ({ data: calibration.images.subarray(i * 50 * per, (i + 1) * 50 * per), batch: 50 }));
    const ranges = await calibrateRanges(model, batches);
    const bytes = writeTflite(model.graph, { classes: source.classes, mean, std, quantize: { ranges } });
    assert.deepEqual(readTfliteInfo(bytes).classes, source.classes);

    // All 10,000 val images, streamed: float (tfjs) and int8 (LiteRT) logits batch by batch.
    const runner = await loadTfliteRunner(bytes);
    const classes = source.spec.numClasses;
    let [n, agree, floatCorrect, int8Correct] = [0, 0, 0, 0];
    for await (const batch of openEvalData(join(data, 'val'), { batch: 500, imageSize: size, mean, std, cropPct, interpolation }).batches) {
      const rows = batch.labels.length;
      const float = tfjsLogits(model, batch.images, rows);
      const int8 = await runner.run(batch.images, rows);
      for (let i = 0; i < rows; i += 1) {
        const [f, q] = [argmax(float, i, classes), argmax(int8, i, classes)];
        agree += Number(f === q);
        floatCorrect += Number(f === batch.labels[i]);
        int8Correct += Number(q === batch.labels[i]);
      }
      n += rows;
    }
    runner.dispose();
    model.dispose();
    const [floatTop1, int8Top1] = [(100 * floatCorrect) / n, (100 * int8Correct) / n];
    assert.equal(n, 10000);
    t.diagnostic(`agreement ${((100 * agree) / n).toFixed(2)}%, top-1 float ${floatTop1.toFixed(2)}% int8 ${int8Top1.toFixed(2)}%`);
    assert.ok(floatTop1 > 85, `the fixture should be trained: float top-1 ${floatTop1}%`);
    assert.ok(agree / n >= minAgreement, `top-1 agreement ${((100 * agree) / n).toFixed(2)}%`);
    assert.ok(Math.abs(floatTop1 - int8Top1) <= maxTop1Change, `top-1 float ${floatTop1.toFixed(2)}% vs int8 ${int8Top1.toFixed(2)}%`);
  });

  test('mnext convert --quantize int8 (and --int8-io) calibrates on the folder and verifies in LiteRT', async () => {
    const dir = tempDir('mnext-int8-cli-');
    for (const extra of [[], ['--int8-io']]) {
      const out = join(dir, `model${extra.length}.tflite`);
      const result = await runCli('convert', '--model', FIXTURE_035_K2, '--to', 'tflite', '--quantize', 'int8', '--calibration', join(data, 'train'),
        '--calibration-images', '100', '--out', out, '--json', ...extra);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as { quantize: string; verification: { runtime: string; relativeDiff: number } };
      assert.equal(report.quantize, 'int8');
      assert.equal(report.verification.runtime, 'tflite');
      // Verified on a random batch, far from the calibration images: a loose sanity bound, not the quality test.
      assert.ok(report.verification.relativeDiff < 0.5, `int8 relative difference ${report.verification.relativeDiff}`);
      const file = new Uint8Array(readFileSync(out));
      assert.equal(readTfliteShapes(file).input.type, extra.length ? TensorType.INT8 : TensorType.FLOAT32);
      assert.deepEqual(readTfliteInfo(file).classes, (await loadModelSource(FIXTURE_035_K2)).classes);
    }
  });
});
