import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_KEYS, configToYaml, defaultConfig, resolveConfig } from '../../src/train/config.js';
import { runCli, tempDir } from '../helpers.js';

const CONFIGS = join(import.meta.dirname, '..', '..', 'configs');

test('defaults are timm train.py defaults (spec §4.2)', () => {
  const c = defaultConfig();
  assert.equal(c.opt, 'sgd');
  assert.equal(c.lr, 0.01);
  assert.equal(c.sched, 'step');
  assert.equal(c.warmup_epochs, 3);
  assert.equal(c.cooldown_epochs, 0, 'today\'s timm: --epochs 2 trains 2 epochs');
  assert.equal(c.batch_size, 32);
  assert.equal(c.model_ema_decay, 0.9998);
  assert.equal(c.smoothing, 0.1);
  assert.equal(c.crop_pct, 0.875);
});

test('YAML sets defaults and flags override them (snake or kebab keys)', () => {
  const dir = tempDir();
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'lr: 0.5\nbatch_size: 16\nscale: [0.5, 1.0]\nmodel_ema: true\n');
  const c = resolveConfig({ file, flags: { 'batch-size': '8', img_size: '32', scale: '0.25,0.75' } });
  assert.equal(c.lr, 0.5);
  assert.equal(c.batch_size, 8);
  assert.equal(c.img_size, 32);
  assert.deepEqual(c.scale, [0.25, 0.75]);
  assert.equal(c.model_ema, true);
});

test('wrong types and unknown keys are rejected naming the key and the expectation', () => {
  assert.throws(() => resolveConfig({ flags: { lr: '0.1x' } }), { message: 'lr: expected a positive number, got "0.1x"' });
  assert.throws(() => resolveConfig({ flags: { batch_size: '2.5' } }), /batch_size: expected a positive integer, got "2.5"/);
  assert.throws(() => resolveConfig({ flags: { opt: 'lion' } }), /opt: expected one of sgd, momentum, nesterov, rmsproptf, adamw, got "lion"/);
  const dir = tempDir();
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'batchsize: 8\n');
  assert.throws(() => resolveConfig({ file }), /unknown key 'batchsize' \(did you mean 'batch_size'\?\)/);
  writeFileSync(file, 'momentum: fast\n');
  assert.throws(() => resolveConfig({ file }), /momentum: expected a number in \[0, 1\), got "fast" \(in .*c\.yaml\)/);
});

test('args.yaml round-trips every key', () => {
  const c = resolveConfig({ flags: { lr: '0.3', mean: '0.5,0.5,0.5' } });
  const back = parse(configToYaml(c)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(back), CONFIG_KEYS);
  assert.deepEqual(resolveConfig({ flags: back }), c);
});

test('every shipped recipe parses, and encodes its paper settings', () => {
  const mbv2 = resolveConfig({ file: join(CONFIGS, 'mnext_mbv2.yaml') });
  assert.deepEqual([mbv2.opt, mbv2.lr, mbv2.sched, mbv2.epochs, mbv2.cooldown_epochs, mbv2.warmup_lr, mbv2.min_lr, mbv2.model_ema_decay, mbv2.batch_size],
    ['sgd', 0.1, 'cosine', 200, 10, 1e-4, 1e-5, 0.9998, 256]);
  const effL = resolveConfig({ file: join(CONFIGS, 'mnext_efficient_l.yaml') });
  assert.deepEqual([effL.model, effL.opt, effL.opt_eps, effL.lr, effL.sched, effL.decay_epochs, effL.decay_rate, effL.warmup_lr, effL.weight_decay, effL.model_ema_decay],
    ['mnext_l', 'rmsproptf', 1e-3, 0.12, 'step', 2.4, 0.97, 1e-6, 1e-5, 0.9999]);
  for (const name of ['mobilenetv2', 'mnext_efficient_s', 'fashion_mnist', 'quickstart']) resolveConfig({ file: join(CONFIGS, `${name}.yaml`) });
  assert.match(readFileSync(join(CONFIGS, 'mobilenetv2.yaml'), 'utf8'), /model: mobilenetv2/);
});

test('every cosine recipe states its cooldown (the default is 0); the 2020 ImageNet recipes keep their 10', () => {
  const recipes = readdirSync(CONFIGS).filter((f) => f.endsWith('.yaml'));
  for (const name of recipes) {
    const keys = parse(readFileSync(join(CONFIGS, name), 'utf8')) as Record<string, unknown>;
    if (keys.sched === 'cosine') assert.ok('cooldown_epochs' in keys, `${name} sets cooldown_epochs`);
  }
  for (const name of ['mnext_mbv2.yaml', 'mobilenetv2.yaml']) assert.equal(resolveConfig({ file: join(CONFIGS, name) }).cooldown_epochs, 10, name);
});

test('use_ema and freeze_backbone need initial_checkpoint; the three are config keys', () => {
  assert.throws(() => resolveConfig({ flags: { freeze_backbone: 'true' } }), /freeze_backbone: applies to the weights of initial_checkpoint, which is not given/);
  assert.throws(() => resolveConfig({ flags: { 'use-ema': 'true' } }), /use_ema: applies to the weights of initial_checkpoint/);
  const dir = tempDir();
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'initial_checkpoint: pretrained.pth\nuse_ema: true\nfreeze_backbone: true\n');
  const c = resolveConfig({ file });
  assert.deepEqual([c.initial_checkpoint, c.use_ema, c.freeze_backbone], ['pretrained.pth', true, true]);
});

test('mnext train: bad flag values and unavailable models exit 2 with one sentence', async () => {
  const bad = await runCli('train', '--config', join(CONFIGS, 'quickstart.yaml'), '--lr', '0.1x');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /lr: expected a positive number, got "0.1x"/);
  const dir = tempDir();
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `model: mnext_xl\ndata: ${dir}\n`);
  const missing = await runCli('train', '--config', file, '--backend', 'cpu');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /model 'mnext_xl' is not available/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
});
