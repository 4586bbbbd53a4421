import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { openDataset } from '../../src/data/dataset.js';
import { DEFAULT_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, balancedSelection, convertFashionMnist } from '../../src/data/fashion-mnist.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { tempDir } from '../helpers.js';
import { idxImages, idxLabels } from './idx.js';

describe('dataset makers', () => {
  it('draws a synthetic dataset that opens as train/val with the same classes', async () => {
    const out = join(tempDir(), 'synthetic');
    const counts = await generateSyntheticDataset(out, { classes: 3, perClass: 4, size: 24, seed: 9, valFraction: 0.5 });
    assert.deepEqual(counts, { train: 12, val: 6 });
    const train = openDataset(out, 'train');
    const val = openDataset(out, 'val');
    assert.deepEqual(train.classes, ['0-circle', '1-square', '2-triangle']);
    assert.deepEqual(val.classes, train.classes);
    const meta = await sharp(train.samples[0].path).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [24, 24, 3]);
    const again = join(tempDir(), 'synthetic');
    await generateSyntheticDataset(again, { classes: 3, perClass: 4, size: 24, seed: 9, valFraction: 0.5 });
    const pixels = async (root: string) => sharp(openDataset(root, 'train').samples[5].path).raw().toBuffer();
    assert.deepEqual(await pixels(again), await pixels(out), 'same seed, same images');
    assert.deepEqual(readdirSync(join(out, '..')).filter((n) => n.startsWith('.')), [], 'no staging folders left behind');
  });

  it('converts IDX files (gzipped or plain) into class folders, class-balanced under a limit', async () => {
    const from = tempDir();
    const labels = Array.from({ length: 40 }, (_, i) => (i * 3) % 10);
    writeFileSync(join(from, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(40, 4, 5, (i) => i * 5)));
    writeFileSync(join(from, 'train-labels-idx1-ubyte.gz'), gzipSync(idxLabels(labels)));
    writeFileSync(join(from, 't10k-images-idx3-ubyte'), idxImages(10, 4, 5, () => 7));
    writeFileSync(join(from, 't10k-labels-idx1-ubyte'), idxLabels([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const out = join(tempDir(), 'fm');
    assert.deepEqual(await convertFashionMnist(from, out, { limitTrain: 23 }), { train: 23, val: 10 });
    const train = openDataset(out, 'train');
    assert.deepEqual(train.classes, [...FASHION_MNIST_CLASSES]);
    const perClass = train.classes.map((_, c) => train.samples.filter((s) => s.label === c).length);
    assert.deepEqual(perClass, [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
    const first = train.samples.find((s) => s.label === 3);
    assert.ok(first !== undefined && first.path.endsWith('00001.png'), 'label 3 first appears at index 1');
    const meta = await sharp(first.path).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.space], [5, 4, 1, 'b-w'], 'stored as an 8-bit grey PNG');
    const { data } = await sharp(first.path).raw().toBuffer({ resolveWithObject: true });
    assert.equal(data[0], 5, 'image 1 of the IDX file (pixel value 5)');
    assert.deepEqual(balancedSelection(Uint8Array.from([1, 1, 1, 0]), 2, 2), [0, 3]);
    await assert.rejects(convertFashionMnist(tempDir(), join(tempDir(), 'x'), {}), /no train-images-idx3-ubyte/);
  });

  it('converts the installed Fashion-MNIST package', { skip: existsSync(DEFAULT_FASHION_MNIST_DIR) ? false : `${DEFAULT_FASHION_MNIST_DIR} is absent (Debian package dataset-fashion-mnist)` }, async () => {
    const out = join(tempDir(), 'fm');
    assert.deepEqual(await convertFashionMnist(DEFAULT_FASHION_MNIST_DIR, out, { limitTrain: 50, limitVal: 20 }), { train: 50, val: 20 });
    const val = openDataset(out, 'val');
    assert.equal(val.samples.length, 20);
    const meta = await sharp(val.samples[0].path).metadata();
    assert.deepEqual([meta.width, meta.height], [28, 28]);
  });
});
