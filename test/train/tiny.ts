import { join } from 'node:path';
import { before } from 'node:test';
import { initBackend } from '../../src/backend/index.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { tempDir } from '../helpers.js';

/**
 * The tiny dataset the resume and fine-tuning tests train on: 3 synthetic classes at 32 px, 18 training images
 * (3 batches of 6) and 9 validation images, made once per test file on the wasm backend. Returns its path getter.
 */
export function tinyDataset(): () => string {
  let data = '';
  before(async () => {
    await initBackend('wasm');
    data = join(tempDir(), 'synthetic');
    await generateSyntheticDataset(data, { classes: 3, perClass: 6, size: 32, seed: 1, valFraction: 0.5 });
  });
  return () => data;
}

/** MobileNeXt-0.35 at 32 px in batches of 6, cosine from 0.01 without warmup, no colour jitter. */
export const TINY_RUN = {
  model: 'mobilenext_035', img_size: '32', batch_size: '6', sched: 'cosine', warmup_epochs: '0', lr: '0.01', color_jitter: '0', workers: '2',
};
