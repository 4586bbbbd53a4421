import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../src/backend/index.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { InputError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { resolveConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { runCli, tempDir } from '../helpers.js';

/**
 * Train's outputs under the output rules (src/util/output-path.ts): a run always gets a new folder, and a resumed
 * run's folder is only written where mnext wrote before, unless --force.
 */

let data: string;

before(async () => {
  await initBackend('wasm');
  data = join(tempDir(), 'synthetic');
  await generateSyntheticDataset(data, { classes: 3, perClass: 6, size: 32, seed: 1, valFraction: 0.5 });
});

const FLAGS = {
  model: 'mobilenext_035', img_size: '32', batch_size: '6', epochs: '2', cooldown_epochs: '0', warmup_epochs: '0', lr: '0.01',
  color_jitter: '0', workers: '2',
};

function tinyConfig(output: string) {
  return resolveConfig({ flags: { data, output, ...FLAGS } });
}

test('--output that is a file is refused with one sentence naming it, and the file stays', async () => {
  const file = join(tempDir(), 'output');
  writeFileSync(file, 'my file');
  const { code, stderr } = await runCli('train', '--data', data, '--output', file, '--model', 'mobilenext_035', '--img-size', '32', '--batch-size', '6', '--epochs', '1');
  assert.equal(code, 2, stderr);
  assert.ok(stderr.includes(`output: cannot write to ${file} (it is a file, not a folder)`), stderr);
  assert.equal(readFileSync(file, 'utf8'), 'my file');
});

test('resuming into a folder with files mnext did not write is refused before training; --force replaces them', async () => {
  const first = await train(tinyConfig(tempDir()), { stopAfterEpochs: 1 });
  const mine = tempDir();
  cpSync(first.lastDir, join(mine, 'epoch-1'), { recursive: true });
  mkdirSync(join(mine, 'last'));
  writeFileSync(join(mine, 'last', 'notes.txt'), 'mine');
  writeFileSync(join(mine, 'summary.csv'), 'my,own,table\n');
  const config = { ...tinyConfig(tempDir()), resume: join(mine, 'epoch-1') };
  const error = await train(config).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof InputError && /^refusing to replace .*last: it is a non-empty folder mnext did not write as a checkpoint folder; pass --force/.test(error.message), String(error));
  assert.deepEqual(readdirSync(mine).sort(), ['epoch-1', 'last', 'summary.csv']);
  assert.equal(readFileSync(join(mine, 'summary.csv'), 'utf8'), 'my,own,table\n');
  const resumed = await train(config, { force: true });
  assert.equal(resumed.epochsRun, 1);
  assert.deepEqual(readdirSync(mine).sort(), ['args.yaml', 'best', 'curves.png', 'epoch-1', 'last', 'summary.csv'].filter((name) => name !== 'best' || resumed.best?.epoch === 1));
  assert.equal(loadCheckpoint(join(mine, 'last')).info?.epoch, 1);
  assert.match(readFileSync(join(mine, 'summary.csv'), 'utf8'), /^epoch,train_loss/);
});
