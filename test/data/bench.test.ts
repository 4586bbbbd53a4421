import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { benchmarkDataLoader } from '../../src/data/bench.js';
import { openDataset } from '../../src/data/dataset.js';
import { tempDir } from '../helpers.js';

describe('benchmarkDataLoader', () => {
  it('times the train pipeline and reports CPU per image', async () => {
    const dir = tempDir();
    for (const cls of ['a', 'b']) {
      mkdirSync(join(dir, cls));
      for (let i = 0; i < 6; i += 1) {
        await sharp({ create: { width: 60 + i, height: 45, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } }).jpeg().toFile(join(dir, cls, `${i}.jpg`));
      }
    }
    const result = await benchmarkDataLoader(openDataset(dir), { workers: 2, batchSize: 4, imageSize: 32, epochs: 2, minSeconds: 0 });
    assert.deepEqual([result.mode, result.images, result.epochs, result.workers, result.skipped], ['data', 24, 2, 2, 0]);
    assert.ok(result.imgPerSec > 0 && Number.isFinite(result.imgPerSec));
    assert.ok(result.cpuMsPerImage > 0 && Number.isFinite(result.cpuMsPerImage), `cpuMsPerImage ${result.cpuMsPerImage}`);
    // Epochs go on until the minimum time has passed, and their spread brackets the median.
    const timed = await benchmarkDataLoader(openDataset(dir), { workers: 2, batchSize: 4, imageSize: 32, epochs: 1, minSeconds: 0.3 });
    assert.ok(timed.seconds >= 0.3 && timed.epochs > 1 && timed.images === 12 * timed.epochs, `${timed.epochs} epochs in ${timed.seconds} s`);
    const { median, min, max } = timed.epochImgPerSec;
    assert.ok(min > 0 && min <= median && median <= max, `spread ${min} ${median} ${max}`);
  });
});
