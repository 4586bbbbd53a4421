import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { initBackend } from '../../../src/backend/index.js';
import { convert } from '../../../src/convert/index.js';
import { SHARD_BYTES, type WeightSpec, encodeWeights, float16Bits, shardWeights } from '../../../src/formats/tfjs/weights.js';
import { graphModelDirHandler } from '../../../src/runtimes/tfjs.js';
import { loadModel } from '../../../src/index.js';
import { tempDir } from '../../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
/** MobileNeXt-1.0 trained on Fashion-MNIST (test/formats/tflite/fixtures/README.md): 8.6 MB of float32 weights. */
const TRAINED = join(ROOT, 'test/formats/tflite/fixtures/fashion_mobilenext_100');
const TROUSER_PNG = join(ROOT, 'test/fixtures/fashion-mnist-trouser.png');
const work = tempDir('mnext-tfjs-weights-');

before(async () => {
  await initBackend('wasm');
});
after(() => rmSync(work, { recursive: true, force: true }));

/** What tfjs-core makes of stored weights (the decoder loadGraphModel uses). */
function decoded(specs: WeightSpec[], bytes: Uint8Array): Float32Array[] {
  const tensors = tf.io.decodeWeights(bytes.slice().buffer, specs);
  const values = specs.map((spec) => tensors[spec.name].dataSync() as Float32Array);
  for (const t of Object.values(tensors)) t.dispose();
  return values;
}

describe('tfjs-converter weight encodings', () => {
  test('float16: round to nearest even, subnormals, overflow to infinity; tfjs-core decodes what was meant', () => {
    const values = Float32Array.from([0, -0, 1, -2.5, 65504, 65520, 1e6, 6.1e-5, 5.96e-8, 2.98e-8, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, Infinity, -Infinity]);
    const expected = [0, -0, 1, -2.5, 65504, Infinity, Infinity, 6.097555160522461e-5, 5.960464477539063e-8, 0, 0, 1, 1 + 2 ** -9, 0.0999755859375, Infinity, -Infinity];
    const { specs, bytes } = encodeWeights([{ name: 'w', shape: [values.length], data: values }], 'float16');
    assert.deepEqual(specs[0].quantization, { dtype: 'float16' });
    assert.equal(bytes.length, values.length * 2);
    assert.deepEqual(Array.from(decoded(specs, bytes)[0]), expected);
    const nan = encodeWeights([{ name: 'n', shape: [1], data: Float32Array.of(NaN) }], 'float16');
    assert.ok(Number.isNaN(decoded(nan.specs, nan.bytes)[0][0]));
    assert.equal(float16Bits(1), 0x3c00);
  });

  test('uint8: min/scale nudged so that 0 is exact, within half a step of every value; constant tensors stay exact', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 0.7 - 0.2);
    const flat = Float32Array.from([0.25, 0.25, 0.25]);
    const ints = Int32Array.from([-1, 8, 8, 32]);
    const { specs, bytes } = encodeWeights([{ name: 'w', shape: [1000], data: values }, { name: 'b', shape: [3], data: flat }, { name: 's', shape: [4], data: ints }], 'uint8');
    const q = specs[0].quantization as { dtype: 'uint8'; scale: number; min: number };
    assert.equal(q.dtype, 'uint8');
    assert.equal(Math.round(-q.min / q.scale) * q.scale + q.min, 0);
    assert.equal(specs[2].quantization, undefined, 'int32 shape constants are not compressed');
    assert.equal(bytes.length, 1000 + 3 + 16);
    const [w, b, s] = decoded(specs, bytes);
    for (let i = 0; i < values.length; i += 1) assert.ok(Math.abs(w[i] - values[i]) <= q.scale / 2 + 1e-7, `value ${i}`);
    assert.deepEqual(Array.from(b), [0.25, 0.25, 0.25]);
    assert.deepEqual(Array.from(s), [-1, 8, 8, 32]);
  });

  test('shards: 4 MB each, named group1-shard{i}of{n}.bin, concatenating back to the packed bytes', () => {
    const bytes = Uint8Array.from({ length: 2 * SHARD_BYTES + 5 }, (_, i) => i % 251);
    const shards = shardWeights(bytes);
    assert.deepEqual(shards.map((s) => [s.path, s.bytes.length]), [['group1-shard1of3.bin', SHARD_BYTES], ['group1-shard2of3.bin', SHARD_BYTES], ['group1-shard3of3.bin', 5]]);
    assert.deepEqual(Buffer.concat(shards.map((s) => s.bytes)), Buffer.from(bytes));
    assert.deepEqual(shardWeights(new Uint8Array(0)).map((s) => s.path), ['group1-shard1of1.bin']);
  });
});

describe('convert --to tfjs of a trained model', () => {
  for (const quantize of [undefined, 'float16', 'uint8'] as const) {
    test(`${quantize ?? 'float32'}: sharded folder, metadata, README; loadGraphModel and loadModel classify as the checkpoint does`, async () => {
      const out = join(work, quantize ?? 'float32');
      const report = await convert(TRAINED, { target: 'tfjs', out, quantize });
      const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
      const paths: string[] = json.weightsManifest[0].paths;
      const shardCount = { float32: 3, float16: 2, uint8: 1 }[quantize ?? 'float32'];
      assert.deepEqual(paths, Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`));
      assert.deepEqual(readdirSync(out).filter((n) => !n.startsWith('.')).sort(), ['README.md', 'model.json', ...paths].sort());
      const meta = json.userDefinedMetadata;
      assert.deepEqual({ inputSize: meta.inputSize, cropPct: meta.cropPct, interpolation: meta.interpolation, mean: meta.mean, std: meta.std, classes: meta.classes.length },
        { inputSize: 32, cropPct: 1, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], classes: 10 });
      assert.match(meta.mnextVersion, /^\d+\.\d+\.\d+/);
      assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /tf\.loadGraphModel\('\.\/model\.json'\)[\s\S]*model\.metadata/);
      assert.equal(report.quantize, quantize);
      assert.equal(report.verification.top1Agreement, 1);
      const plain = await loadGraphModel(graphModelDirHandler(out));
      assert.deepEqual((plain.metadata as { classes: string[] }).classes, meta.classes);
      plain.dispose();
      const [checkpoint, folder] = [await loadModel(TRAINED), await loadModel(out)];
      const [expected, actual] = [await checkpoint.classify(TROUSER_PNG), await folder.classify(TROUSER_PNG)];
      assert.equal(actual[0].label, expected[0].label);
      assert.ok(Math.abs(actual[0].probability - expected[0].probability) < (quantize === 'uint8' ? 0.02 : quantize ? 1e-3 : 1e-5));
      await checkpoint.dispose();
      await folder.dispose();
    });
  }

  test('--quantize is per target: float16 and uint8 are for tfjs, int8 for tflite', async () => {
    await assert.rejects(convert(TRAINED, { target: 'onnx', out: join(work, 'x.onnx'), quantize: 'float16' }), /--quantize float16 is not available with --to onnx/);
    await assert.rejects(convert(TRAINED, { target: 'tfjs', out: join(work, 'x'), quantize: 'int8', calibration: work }), /--quantize int8 is not available with --to tfjs \(it offers float16, uint8\)/);
    await assert.rejects(convert(TRAINED, { target: 'tfjs', out: join(work, 'x'), quantize: 'int4' as never }), /--quantize: expected one of int8, float16, uint8, got 'int4'/);
  });
});
