import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { runCli, tempDir } from '../helpers.js';

/**
 * One vocabulary: every command says --img-size and -b/--batch-size (timm's names); the names commands used
 * before stay as hidden aliases, which these tests prove still set the same value.
 */
const work = tempDir('mnext-vocabulary-');
after(() => rmSync(work, { recursive: true, force: true }));

const COMMANDS = [[], ['train'], ['eval'], ['profile'], ['convert'], ['parity'], ['parity-train'], ['models'], ['import'], ['export'],
  ['data', 'synthetic'], ['data', 'fashion-mnist'], ['data', 'inspect'], ['bench', 'data'], ['bench', 'train'], ['bench', 'infer']];

describe('--help', () => {
  test('lists only the current names, shows each default once and readably, and ends with examples', async () => {
    for (const command of COMMANDS) {
      const { code, stdout } = await runCli(...command, '--help');
      assert.equal(code, 0, `${command.join(' ')} --help`);
      const name = `mnext ${command.join(' ')}`.trim();
      assert.doesNotMatch(stdout, /--input-size|--image-size|--batch(?![-\w])|\s--size(?![-\w])/, `${name} --help shows an old flag name`);
      assert.doesNotMatch(stdout, /\(default[^)]*\)\s*\(default/, `${name} --help shows a default twice`);
      assert.doesNotMatch(stdout, /default: (\[|null|")/, `${name} --help shows a default as JSON`);
      assert.match(stdout, /\nExamples:\n {2}\$ mnext /, `${name} --help has examples`);
    }
  });

  test('train offers -b for --batch-size', async () => {
    const { stdout } = await runCli('train', '--help');
    assert.match(stdout, /-b, --batch-size <value>/);
  });
});

describe('hidden aliases', () => {
  test('--input-size and --image-size set --img-size, --batch sets --batch-size', async () => {
    for (const alias of ['--input-size', '--image-size']) {
      const run = await runCli('bench', 'infer', '--model', 'mobilenext', '--width', '0.35', '--num-classes', '10', alias, '40', '--batch', '3',
        '--steps', '1', '--warmup', '0', '--backend', 'cpu', '--json');
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { inputSize: number; batch: number };
      assert.equal(result.inputSize, 40, alias);
      assert.equal(result.batch, 3);
    }
  });

  test('train: --input-size is img_size, --batch and -b are batch_size (their errors name the config key)', async () => {
    const size = await runCli('train', '--input-size', 'abc');
    assert.equal(size.code, 2);
    assert.match(size.stderr, /img_size: expected a positive integer, got "abc"/);
    for (const flag of ['--batch', '-b']) {
      const batch = await runCli('train', flag, '0');
      assert.equal(batch.code, 2);
      assert.match(batch.stderr, /batch_size: expected a positive integer, got "0"/);
    }
  });

  test('data synthetic: --size is --img-size', async () => {
    const out = join(work, 'synthetic');
    const { code, stderr } = await runCli('data', 'synthetic', '--out', out, '--classes', '2', '--per-class', '1', '--size', '24x16', '--json');
    assert.equal(code, 0, stderr);
    const [image] = readdirSync(join(out, 'train', readdirSync(join(out, 'train'))[0]));
    const meta = await sharp(join(out, 'train', readdirSync(join(out, 'train'))[0], image)).metadata();
    assert.deepEqual([meta.width, meta.height], [24, 16]);
  });
});

describe('--config', () => {
  test('finds a bundled recipe by name from any folder, with or without .yaml', async () => {
    for (const name of ['quickstart', 'quickstart.yaml']) {
      // A bad value after the recipe fails before any data is read, so the recipe itself was found and parsed.
      const { code, stderr } = await runCli('train', '--config', name, '--lr', 'x');
      assert.equal(code, 2);
      assert.match(stderr, /lr: expected a positive number, got "x"/);
    }
  });

  test('an unknown name lists the bundled recipes', async () => {
    const { code, stderr } = await runCli('train', '--config', 'no_such_recipe');
    assert.equal(code, 2);
    assert.match(stderr, /no_such_recipe does not exist.*bundled: .*mnext_mbv2.*quickstart/);
  });
});
