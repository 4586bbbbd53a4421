import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { OUTPUT_MARKER } from '../../src/util/output-path.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { writeAlignedZip } from '../../src/io/torch/zip.js';
import { createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { idxImages, idxLabels } from '../data/idx.js';
import { runCli, tempDir } from '../helpers.js';

/**
 * Every command that writes, against the output rules (src/util/output-path.ts): a missing path is created, mnext's
 * own earlier output is replaced, anything else is refused with exit 2 and one sentence naming the path and
 * --force (and left exactly as it was), and --force replaces it.
 */

const work = tempDir('mnext-outputs-');
after(() => rmSync(work, { recursive: true, force: true }));

const SMALL_MODEL = ['--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '--num-classes', '3'];

/** A user's folder: a file and a sub-folder with a file. */
function foreignFolder(path: string): void {
  mkdirSync(join(path, 'sub'), { recursive: true });
  writeFileSync(join(path, 'index.html'), '<html>mine</html>');
  writeFileSync(join(path, 'sub', 'notes.txt'), 'mine');
}

function assertForeignFolderIntact(path: string): void {
  assert.deepEqual(readdirSync(path).sort(), ['index.html', 'sub']);
  assert.equal(readFileSync(join(path, 'index.html'), 'utf8'), '<html>mine</html>');
  assert.equal(readFileSync(join(path, 'sub', 'notes.txt'), 'utf8'), 'mine');
}

function assertRefused(result: { code: number; stderr: string }, path: string): void {
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trim().split('\n').filter((line) => /error/.test(line));
  assert.equal(lines.length, 1, result.stderr);
  assert.ok(lines[0].includes(`refusing to replace ${path}: `) && lines[0].endsWith('pass --force to replace it'), lines[0]);
}

/** Nothing but `names` in `dir`: no staging or set-aside siblings left behind. */
function assertOnly(dir: string, names: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), [...names].sort());
}

const mtime = (path: string) => statSync(path).mtimeMs;

describe('convert', () => {
  const dir = join(work, 'convert');
  before(() => mkdirSync(dir, { recursive: true }));

  for (const target of ['onnx', 'tflite'] as const) {
    test(`--to ${target}: creates, replaces its own file, refuses another file or a folder, --force replaces`, async () => {
      const out = join(dir, `model.${target}`);
      const convert = (...extra: string[]) => runCli('convert', ...SMALL_MODEL, '--to', target, '--out', out, ...extra);
      assert.equal((await convert()).code, 0);
      const first = readFileSync(out);
      const again = await convert('--width', '0.5');
      assert.equal(again.code, 0, again.stderr);
      assert.notDeepEqual(readFileSync(out), first, 'own output replaced');
      const foreign = join(dir, `theirs.${target}`);
      // A file of the same format from another tool: TFLite's identifier, but not mnext's metadata.
      writeFileSync(foreign, target === 'tflite' ? Buffer.from('\x1c\0\0\0TFL3 from elsewhere') : Buffer.from('\x08\x07\x12\x07pytorch'));
      assertRefused(await runCli('convert', ...SMALL_MODEL, '--to', target, '--out', foreign), foreign);
      assert.ok(readFileSync(foreign).includes(target === 'tflite' ? 'from elsewhere' : 'pytorch'));
      const forced = await runCli('convert', ...SMALL_MODEL, '--to', target, '--out', foreign, '--force');
      assert.equal(forced.code, 0, forced.stderr);
      assert.ok(readFileSync(foreign).length > 10_000, 'the foreign file is now a converted model');
      assert.equal((await runCli('convert', ...SMALL_MODEL, '--to', target, '--out', foreign)).code, 0, 'what --force wrote is mnext\'s own');
      const folder = join(dir, `folder.${target}`);
      foreignFolder(folder);
      assertRefused(await runCli('convert', ...SMALL_MODEL, '--to', target, '--out', folder), folder);
      assertForeignFolderIntact(folder);
    });
  }

  test('--to tfjs: refuses a folder with other files (public/) and a file, replaces its own folder, --force replaces', async () => {
    const publicDir = join(dir, 'public');
    foreignFolder(publicDir);
    assertRefused(await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', publicDir), publicDir);
    assertForeignFolderIntact(publicDir);
    const own = join(dir, 'web_model');
    assert.equal((await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', own)).code, 0);
    const written = ['model.json', 'group1-shard1of1.bin', 'README.md', OUTPUT_MARKER];
    assertOnly(own, written);
    const before = mtime(join(own, 'group1-shard1of1.bin'));
    assert.equal((await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', own)).code, 0);
    assert.ok(mtime(join(own, 'group1-shard1of1.bin')) >= before);
    assertOnly(own, written);
    writeFileSync(join(own, 'index.html'), 'added by the user');
    assertRefused(await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', own), own);
    assert.equal(readFileSync(join(own, 'index.html'), 'utf8'), 'added by the user');
    const picture = join(dir, 'picture.png');
    writeFileSync(picture, 'a picture');
    assertRefused(await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', picture), picture);
    assert.equal(readFileSync(picture, 'utf8'), 'a picture');
    assert.equal((await runCli('convert', ...SMALL_MODEL, '--to', 'tfjs', '--out', publicDir, '--force')).code, 0);
    assertOnly(publicDir, written);
    assertOnly(dir, readdirSync(dir).filter((name) => !name.startsWith('.')));
  });
});

describe('data', () => {
  test('synthetic: refuses a foreign folder and a file, replaces its own dataset, --force replaces; counts add up', async () => {
    const out = join(work, 'synthetic');
    const made = await runCli('data', 'synthetic', '--out', out, '--classes', '3', '--per-class', '4', '--img-size', '16');
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /synthetic: 15\/15 images \(100%\)/);
    assert.match(made.stdout, /wrote 12 training and 3 validation images/);
    const again = await runCli('data', 'synthetic', '--out', out, '--classes', '2', '--per-class', '2', '--img-size', '16');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /warning: no validation images: 2 per class x --val-fraction 0\.2 rounds to 0/);
    assertOnly(out, ['train', OUTPUT_MARKER]);
    assertOnly(join(out, 'train'), ['0-circle', '1-square']);
    const mine = join(work, 'my-dataset');
    foreignFolder(mine);
    assertRefused(await runCli('data', 'synthetic', '--out', mine, '--classes', '2', '--per-class', '5'), mine);
    assertForeignFolderIntact(mine);
    const png = join(work, 'photo.png');
    writeFileSync(png, 'my photo');
    assertRefused(await runCli('data', 'synthetic', '--out', png, '--classes', '2', '--per-class', '5'), png);
    assert.equal(readFileSync(png, 'utf8'), 'my photo');
    assert.equal((await runCli('data', 'synthetic', '--out', png, '--classes', '2', '--per-class', '5', '--img-size', '16', '--force')).code, 0);
    assertOnly(png, ['train', 'val', OUTPUT_MARKER]);
  });

  test('fashion-mnist: refuses a foreign folder, replaces its own (or a synthetic) dataset, --force replaces', async () => {
    const from = join(work, 'idx');
    mkdirSync(from);
    writeFileSync(join(from, 'train-images-idx3-ubyte'), idxImages(20, 4, 4, (i) => i));
    writeFileSync(join(from, 'train-labels-idx1-ubyte'), idxLabels(Array.from({ length: 20 }, (_, i) => i % 10)));
    writeFileSync(join(from, 't10k-images-idx3-ubyte'), idxImages(10, 4, 4, (i) => i));
    writeFileSync(join(from, 't10k-labels-idx1-ubyte'), idxLabels(Array.from({ length: 10 }, (_, i) => i)));
    const mine = join(work, 'fm-mine');
    foreignFolder(mine);
    assertRefused(await runCli('data', 'fashion-mnist', '--from', from, '--out', mine), mine);
    assertForeignFolderIntact(mine);
    const out = join(work, 'fm');
    await generateSyntheticDataset(out, { classes: 2, perClass: 2, size: 8, seed: 0 });
    assert.equal((await runCli('data', 'fashion-mnist', '--from', from, '--out', out)).code, 0);
    assert.equal(readdirSync(join(out, 'train')).length, 10, 'the ten Fashion-MNIST classes replaced the synthetic ones');
    assert.equal((await runCli('data', 'fashion-mnist', '--from', from, '--out', out, '--limit-train', '10')).code, 0);
    assert.equal((await runCli('data', 'fashion-mnist', '--from', from, '--out', mine, '--force')).code, 0);
    assertOnly(mine, ['train', 'val', OUTPUT_MARKER]);
  });
});

describe('import / export', () => {
  const dir = join(work, 'torch');
  const checkpoint = join(dir, 'ckpt');
  before(() => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 3, inputSize: 32 });
    saveCheckpoint(checkpoint, { spec: graph.spec, weights: initStateDict(graph, 3) });
  });

  test('export: creates and replaces its own .pth, refuses another torch file or a folder, --force replaces', async () => {
    const pth = join(dir, 'model.pth');
    assert.equal((await runCli('export', checkpoint, '--to', 'pytorch', '--out', pth)).code, 0);
    assert.equal((await runCli('export', checkpoint, '--to', 'pytorch', '--out', pth)).code, 0, 'own export replaced');
    const theirs = join(dir, 'theirs.pth');
    const foreignZip = writeAlignedZip([{ name: 'archive/data.pkl', data: new Uint8Array([0x80, 2, 0x7d, 0x2e]) }, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
    writeFileSync(theirs, foreignZip);
    assertRefused(await runCli('export', checkpoint, '--to', 'pytorch', '--out', theirs), theirs);
    assert.deepEqual(new Uint8Array(readFileSync(theirs)), foreignZip);
    assert.equal((await runCli('export', checkpoint, '--to', 'pytorch', '--out', theirs, '--force')).code, 0);
    assert.deepEqual(readFileSync(theirs), readFileSync(pth));
    const folder = join(dir, 'folder.pth');
    foreignFolder(folder);
    assertRefused(await runCli('export', checkpoint, '--to', 'pytorch', '--out', folder), folder);
    assertForeignFolderIntact(folder);
  });

  test('import: creates and replaces its own checkpoint (also one written before markers), refuses others, --force replaces', async () => {
    const pth = join(dir, 'import-me.pth');
    assert.equal((await runCli('export', checkpoint, '--to', 'pytorch', '--out', pth)).code, 0);
    const importTo = (out: string, ...extra: string[]) => runCli('import', pth, '--width', '0.35', '--img-size', '32', '--out', out, ...extra);
    const out = join(dir, 'imported');
    assert.equal((await importTo(out)).code, 0);
    assertOnly(out, ['model.json', 'weights.bin', OUTPUT_MARKER]);
    rmSync(join(out, OUTPUT_MARKER));
    const replaced = await importTo(out);
    assert.equal(replaced.code, 0, `a marker-less mnext checkpoint is still mnext's: ${replaced.stderr}`);
    assertOnly(out, ['model.json', 'weights.bin', OUTPUT_MARKER]);
    assert.equal(loadCheckpoint(out).spec.width, 0.35);
    const mine = join(dir, 'models');
    foreignFolder(mine);
    assertRefused(await importTo(mine), mine);
    assertForeignFolderIntact(mine);
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'mine');
    assertRefused(await importTo(file), file);
    assert.equal(readFileSync(file, 'utf8'), 'mine');
    assert.equal((await importTo(mine, '--force')).code, 0);
    assertOnly(mine, ['model.json', 'weights.bin', OUTPUT_MARKER]);
  });
});

describe('eval', () => {
  const dir = join(work, 'eval');
  const checkpoint = join(dir, 'ckpt');
  const data = join(dir, 'data');
  before(async () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 3, inputSize: 32 });
    saveCheckpoint(checkpoint, { spec: graph.spec, weights: initStateDict(graph, 3), classes: ['0-circle', '1-square', '2-triangle'] });
    await generateSyntheticDataset(data, { classes: 3, perClass: 2, size: 32, seed: 0, valFraction: 1 });
  });
  const evaluate = (...extra: string[]) => runCli('eval', '--model', checkpoint, '--data', join(data, 'val'), '-b', '3', ...extra);

  test('--results-file and --confusion: own files replaced, others refused before evaluating, --force replaces', async () => {
    const csv = join(dir, 'results.csv');
    const json = join(dir, 'results.json');
    const png = join(dir, 'confusion.png');
    assert.equal((await evaluate('--results-file', csv, '--confusion', png)).code, 0);
    assert.equal((await evaluate('--results-file', json)).code, 0);
    const replaced = await evaluate('--results-file', csv, '--confusion', png);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal((await evaluate('--results-file', json)).code, 0, 'own JSON results replaced');
    assert.match(readFileSync(csv, 'utf8'), /^model,top1,/);
    const theirCsv = join(dir, 'spreadsheet.csv');
    writeFileSync(theirCsv, 'name,amount\nrent,900\n');
    assertRefused(await evaluate('--results-file', theirCsv), theirCsv);
    assert.equal(readFileSync(theirCsv, 'utf8'), 'name,amount\nrent,900\n');
    const theirPng = join(dir, 'holiday.png');
    const photo = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).png().toBuffer();
    writeFileSync(theirPng, photo);
    const refused = await evaluate('--confusion', theirPng);
    assertRefused(refused, theirPng);
    assert.doesNotMatch(refused.stdout, /top-1/, 'refused before evaluating');
    assert.deepEqual(readFileSync(theirPng), photo);
    assert.equal((await evaluate('--confusion', theirPng, '--results-file', theirCsv, '--force')).code, 0);
    assert.match(readFileSync(theirCsv, 'utf8'), /^model,top1,/);
    assert.notDeepEqual(readFileSync(theirPng), photo);
    const folder = join(dir, 'results-folder.csv');
    foreignFolder(folder);
    assertRefused(await evaluate('--results-file', folder), folder);
    assertForeignFolderIntact(folder);
  });

  test('a bare architecture name warns that the weights are random', async () => {
    const { code, stderr } = await runCli('eval', '--model', 'mobilenext_035', '--data', join(data, 'val'), '-b', '3');
    assert.equal(code, 0, stderr);
    assert.match(stderr, /warning: mobilenext_035 is an architecture name, so its weights are random \(fresh\)/);
    const trained = await evaluate();
    assert.doesNotMatch(trained.stderr, /random/);
  });
});

describe('profile --plot', () => {
  test('creates and replaces its own chart, refuses another PNG before profiling, --force replaces', async () => {
    const dir = join(work, 'profile');
    mkdirSync(dir);
    const profile = (plot: string, ...extra: string[]) => runCli('profile', '--models', 'mobilenext', '--widths', '0.35', '--img-size', '32',
      '--runs', '1', '--warmup', '0', '--plot', plot, ...extra);
    const own = join(dir, 'latency.png');
    assert.equal((await profile(own)).code, 0);
    assert.equal((await profile(own)).code, 0, 'own chart replaced');
    const photo = join(dir, 'photo.png');
    const bytes = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'blue' } }).png().toBuffer();
    writeFileSync(photo, bytes);
    const refused = await profile(photo);
    assertRefused(refused, photo);
    assert.doesNotMatch(refused.stderr, /profiled/, 'refused before profiling');
    assert.deepEqual(readFileSync(photo), bytes);
    assert.equal((await profile(photo, '--force')).code, 0);
    assert.notDeepEqual(readFileSync(photo), bytes);
    assertOnly(dir, ['latency.png', 'photo.png']);
  });
});
