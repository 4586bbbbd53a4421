import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { PyDict } from '../../src/io/torch/pickle.js';
import { readTorchFile } from '../../src/io/torch/load.js';
import { importTorchWeights } from '../../src/io/torch/source.js';
import { CONFIG_KEYS, defaultConfig, resolveConfig } from '../../src/train/config.js';
import { continuedConfig } from '../../src/train/resume.js';
import { type ScheduleOptions, stepLearningRate } from '../../src/train/scheduler.js';
import { summaryCsv } from '../../src/train/summary.js';
import { tempDir } from '../helpers.js';
import { PYTHON_PACKAGE, SKIP_NO_TORCH, TORCH_PYTHON, runTorchPython } from '../io/torch/python.js';

/**
 * The PyTorch twin's trainer (python -m mnext_torch.train) reads mnext train's recipes as mnext does (same keys,
 * defaults, errors, schedules) and writes mnext's run folder; a tiny synthetic run end to end, and a resumed run
 * that repeats an uninterrupted one.
 */
const CONFIGS = join(import.meta.dirname, '..', '..', 'configs');

/** `python -m mnext_torch.train args` with python/ on the path: exit code and output. */
function runTrainer(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, PYTHONPATH: PYTHON_PACKAGE };
  const run = spawnSync(TORCH_PYTHON!, ['-m', 'mnext_torch.train', ...args], { encoding: 'utf8', env });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Runs `body` (python, with `sys` and `json` imported) on the JSON of `input`; returns its printed JSON. */
function python<T>(body: string, input: unknown): T {
  return JSON.parse(runTorchPython(`import json, sys\ndata = json.loads(sys.argv[1])\n${body}`, [JSON.stringify(input)])) as T;
}

/** A run's args.yaml as written (with `resume` set it names the run, so it is read as YAML, not as a recipe). */
const argsOf = (runDir: string) => parse(readFileSync(join(runDir, 'args.yaml'), 'utf8')) as Record<string, unknown>;

function errorOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  return '(no error)';
}

describe('the twin reads mnext train\'s recipes as mnext does', { skip: SKIP_NO_TORCH }, () => {
  it('the same keys, in the same order, with the same defaults', () => {
    const twin = python<[string, unknown][]>('from mnext_torch.config import default_config\nprint(json.dumps(list(default_config().items())))', null);
    const mnext = defaultConfig() as unknown as Record<string, unknown>;
    assert.deepEqual(twin, CONFIG_KEYS.map((k) => [k, mnext[k]]));
  });

  it('every config in configs/ resolves to the same values', () => {
    const files = readdirSync(CONFIGS).filter((f) => f.endsWith('.yaml')).map((f) => join(CONFIGS, f));
    const twin = python<Record<string, unknown>[]>('from mnext_torch.config import resolve_config\nprint(json.dumps([resolve_config(f) for f in data]))', files);
    assert.deepEqual(twin, files.map((file) => resolveConfig({ file })));
  });

  it('bad values and unknown keys fail with mnext\'s sentence', () => {
    const dir = tempDir('mnext-twin-config-');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'epochs: 0\n');
    const cases: { file?: string; flags?: Record<string, string> }[] = [
      { flags: { lr: '0.1x' } }, { flags: { opt: 'lion' } }, { flags: { scale: '0.5' } }, { flags: { lrr: '0.1' } },
      { flags: { model_ema: 'maybe' } }, { flags: { 'warmup-epochs': '5', epochs: '5', sched: 'cosine' } }, { file },
    ];
    const twin = python<string[]>(`from mnext_torch.config import ConfigError, resolve_config
def error(case):
    try:
        resolve_config(case.get('file'), case.get('flags'))
    except ConfigError as e:
        return str(e)
    return '(no error)'
print(json.dumps([error(c) for c in data]))`, cases);
    assert.deepEqual(twin, cases.map((c) => errorOf(() => resolveConfig(c))));
  });

  it('learning rates: cosine and step, warmup, cooldown, per epoch and per update', () => {
    const configs = [
      resolveConfig({ file: join(CONFIGS, 'mnext_mbv2.yaml') }),
      resolveConfig({ file: join(CONFIGS, 'mnext_efficient_s.yaml') }),
      resolveConfig({ file: join(CONFIGS, 'fashion_mnist_full.yaml') }),
    ];
    const points = [[0, 0], [0, 7], [1, 3], [2, 9], [3, 0], [57, 5], [199, 9], [200, 0], [209, 9], [849, 4]];
    const twin = python<number[][]>(`from mnext_torch.scheduler import step_learning_rate
print(json.dumps([[step_learning_rate(c, e, s, 10) for e, s in data['points']] for c in data['configs']]))`, { configs, points });
    const mnext = configs.map((c) => {
      const schedule: ScheduleOptions = {
        sched: c.sched, lr: c.lr, epochs: c.epochs, warmupEpochs: c.warmup_epochs, warmupLr: c.warmup_lr, minLr: c.min_lr,
        decayEpochs: c.decay_epochs, decayRate: c.decay_rate, cooldownEpochs: c.cooldown_epochs,
      };
      return points.map(([epoch, step]) => stepLearningRate(schedule, epoch, step, 10, c.sched_on_updates));
    });
    // Within an ulp or two: Math.cos / Math.pow and libm differ in the last bit.
    twin.flat().forEach((lr, i) => assert.ok(Math.abs(lr - mnext.flat()[i]) <= 1e-15 * mnext.flat()[i], `${lr} vs ${mnext.flat()[i]}`));
  });

  it('keys of mnext\'s own engine are refused, not ignored', () => {
    const twin = python<string[]>(`from mnext_torch.config import ConfigError, resolve_config
def error(flags):
    try:
        resolve_config(flags=flags)
    except ConfigError as e:
        return str(e)
print(json.dumps([error(f) for f in data]))`, [{ replicas: '2' }, { backend: 'wasm' }, { initial_checkpoint: 'x.pth', freeze_backbone: 'true' }, { freeze_backbone: 'true' }]);
    assert.match(twin[0], /^replicas: .*torchrun.*got 2$/);
    assert.match(twin[1], /^backend: .*leave it unset, got "wasm"$/);
    assert.match(twin[2], /^freeze_backbone: training the classifier alone is mnext train's.*set it to false, got true$/);
    assert.equal(twin[3], errorOf(() => resolveConfig({ flags: { freeze_backbone: 'true' } })), 'the same sentence as mnext');
  });
});

describe('initial_checkpoint, as timm\'s --initial-checkpoint and mnext train\'s fine-tuning start', { skip: SKIP_NO_TORCH }, () => {
  it('loads a state_dict or checkpoint (EMA with use_ema), re-initialises a classifier for other classes, refuses another model', () => {
    const dir = tempDir('mnext-twin-initial-');
    const out = python<{ loaded: boolean; ema: boolean; log: string[]; head: boolean; errors: string[] }>(`import torch
from mnext_torch import create_model
from mnext_torch.config import ConfigError, resolve_config
from mnext_torch.finetune import load_initial_weights
source = create_model('mobilenext', num_classes=3, width=0.35)
ema = {k: v + 1 if v.is_floating_point() else v for k, v in source.state_dict().items()}
torch.save(source.state_dict(), data + '/bare.pth')
torch.save({'state_dict': {'module.' + k: v for k, v in source.state_dict().items()}, 'state_dict_ema': ema}, data + '/checkpoint.pth.tar')
def start(name, model, classes, **flags):
    config = resolve_config(flags={'model': model, 'initial_checkpoint': data + '/' + name, 'width': '0.35' if model == 'mobilenext' else '', **flags})
    target, log = create_model(model, num_classes=classes, width=config['width']), []
    fresh = target.classifier[1].weight.clone() if model == 'mobilenext' else None
    load_initial_weights(target, config, log.append)
    return target, log, fresh
def error(*args, **flags):
    try:
        start(*args, **flags)
    except ConfigError as e:
        return str(e)
same, _, _ = start('bare.pth', 'mobilenext', 3)
from_ema, _, _ = start('checkpoint.pth.tar', 'mobilenext', 3, use_ema='true')
other, log, fresh = start('checkpoint.pth.tar', 'mobilenext', 5)
print(json.dumps({
    'loaded': all(torch.equal(v, source.state_dict()[k]) for k, v in same.state_dict().items()),
    'ema': all(torch.equal(v, ema[k]) for k, v in from_ema.state_dict().items()),
    'log': log,
    'head': torch.equal(other.classifier[1].weight, fresh) and torch.equal(other.features[0][0].weight, source.features[0][0].weight),
    'errors': [error('bare.pth', 'mobilenetv2', 3), error('bare.pth', 'mobilenext', 3, use_ema='true'), error('missing.pth', 'mobilenext', 3)],
}))`, dir);
    assert.ok(out.loaded, 'a bare state_dict, strictly');
    assert.ok(out.ema, 'state_dict_ema with use_ema, module. prefixes dropped');
    assert.deepEqual(out.log, [`initial weights: ${dir}/checkpoint.pth.tar`, 'classifier re-initialised: 3 → 5 classes']);
    assert.ok(out.head, 'the run\'s own classifier init, the checkpoint\'s backbone');
    assert.match(out.errors[0], /^initial_checkpoint: .*bare\.pth does not fit mobilenetv2 .*: missing \d+ \(features\..*, …\); unexpected \d+ \(features\./);
    assert.match(out.errors[1], /^use_ema: .*bare\.pth has no EMA weights \(no state_dict_ema entry\); set use_ema: false$/);
    assert.match(out.errors[2], /^initial_checkpoint: .*missing\.pth does not exist$/);
  });
});

describe('python -m mnext_torch.train end to end', { skip: SKIP_NO_TORCH }, () => {
  const dir = tempDir('mnext-twin-train-');
  const data = join(dir, 'data');
  before(async () => {
    await generateSyntheticDataset(data, { classes: 3, perClass: 8, size: 36, seed: 1 });
  });

  it('one epoch of configs/fashion_mnist.yaml with overrides writes mnext\'s run folder', () => {
    const output = join(dir, 'out');
    const run = runTrainer(['--config', join(CONFIGS, 'fashion_mnist.yaml'), '--data', data, '--output', output, '--num-classes', '3',
      '--width', '0.35', '--epochs', '1', '--batch-size', '8', '--workers', '1', '--model-ema', '--model-ema-decay', '0.5',
      '--color-jitter', '0.4', '--interpolation', 'random', '--reprob', '0.5', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { runDir: string; summary: { train_loss: number; eval_top1: number }[] };
    assert.match(result.runDir, /[/\\]\d{8}-\d{6}-mobilenext-32$/);
    assert.ok(result.runDir.startsWith(output));
    assert.match(run.stderr, /epoch 0\/0: train_loss \d+\.\d{4} .*\[EMA\]/);
    const summary = readFileSync(join(result.runDir, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(summary[0], summaryCsv([]).trim(), 'the header of mnext train\'s summary.csv');
    assert.equal(summary.length, 2);
    assert.ok(Number.isFinite(result.summary[0].train_loss));
    assert.equal(readFileSync(join(result.runDir, 'classes.txt'), 'utf8'), `${readdirSync(join(data, 'train')).sort().join('\n')}\n`);
    // mnext reads the twin's args.yaml as a recipe and finds the same values.
    const args = resolveConfig({ file: join(result.runDir, 'args.yaml') });
    assert.deepEqual([args.width, args.num_classes, args.model_ema, args.reprob, args.lr, args.data], [0.35, 3, true, 0.5, 0.05, data]);
    for (const folder of ['last', 'best']) {
      const file = join(result.runDir, folder, 'checkpoint.pth.tar');
      const root = readTorchFile(file).root;
      assert.ok(root instanceof PyDict);
      assert.deepEqual(['epoch', 'arch', 'state_dict', 'optimizer', 'args', 'version', 'state_dict_ema'].filter((k) => !root.map.has(k)), []);
      // mnext import reads the timm-format checkpoint, raw and EMA weights.
      const imported = importTorchWeights(file, { width: 0.35 });
      assert.deepEqual([imported.source.spec.numClasses, imported.entry, imported.info.epoch, imported.emaWeights !== undefined], [3, 'state_dict', 0, true]);
    }
  });

  it('a run resumed after its first epoch repeats the uninterrupted run', () => {
    const config = resolveConfig({
      file: join(CONFIGS, 'quickstart.yaml'),
      flags: { data, output: join(dir, 'resume'), num_classes: '3', epochs: '2', batch_size: '8', workers: '1', model_ema: 'true', mixup: '0.4' },
    });
    const runs = python<{ rows: Record<string, number>[]; state: Record<string, number> }[]>(`import torch
from mnext_torch.train import train
def finished(result):
    state = torch.load(result['lastDir'] + '/checkpoint.pth.tar')
    tensors = {**state['state_dict'], **{'ema.' + k: v for k, v in state['state_dict_ema'].items()},
               **{f'momentum.{i}': s['momentum_buffer'] for i, s in state['optimizer']['state'].items()}}
    rows = [{k: v for k, v in row.items() if k != 'img_per_sec'} for row in result['summary']]
    return {'rows': rows, 'state': {k: v.double().sum().item() for k, v in tensors.items()}}
whole = train(data)
first = train(data, stop_after_epochs=1)
resumed = train(dict(data, resume=first['runDir']))
print(json.dumps([finished(whole), finished(resumed)]))`, config);
    assert.equal(runs[0].rows.length, 2);
    assert.deepEqual(runs[1], runs[0]);
  });

  it('--resume RUN: the run\'s args.yaml supplies the rest, --epochs extends it, a finished run says so, other changes are refused', () => {
    const output = join(dir, 'resumed');
    const tiny = ['--data', data, '--output', output, '--num-classes', '3', '--width', '0.35', '--img-size', '32', '--batch-size', '8',
      '--workers', '1', '--sched', 'cosine', '--warmup-epochs', '0', '--min-lr', '0.0001'];
    const first = runTrainer([...tiny, '--epochs', '1', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const { runDir } = JSON.parse(first.stdout) as { runDir: string };
    const summaryLines = () => readFileSync(join(runDir, 'summary.csv'), 'utf8').trim().split('\n').length;

    const finished = runTrainer(['--resume', runDir]);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /^mnext_torch\.train: mobilenext on .*data, /m, 'the header shows the resumed run\'s model and data');
    assert.match(finished.stderr, /^finished at epoch 1 of 1; pass --epochs N to continue$/m);
    assert.equal(summaryLines(), 2, 'nothing trained');

    const refused = runTrainer(['--resume', runDir, '--epochs', '3', '--lr', '0.5', '--batch-size', '9']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stderr.trim().split('\n').pop(), 'mnext_torch.train: ' + errorOf(() => continuedConfig(
      resolveConfig({ flags: { batch_size: '8', lr: '0.01' } }), resolveConfig({ flags: { batch_size: '9', lr: '0.5' } }))), 'mnext\'s sentence');
    assert.equal(summaryLines(), 2);

    const extended = runTrainer(['--resume', runDir, '--epochs', '3', '--workers', '2', '--json']);
    assert.equal(extended.code, 0, extended.stderr);
    const rows = (JSON.parse(extended.stdout) as { summary: { lr: number }[] }).summary;
    // Each epoch's LR is the 3-epoch cosine's from where the run stopped (at t = 0 cosine gives lr for any length).
    const cosine = (t: number) => 1e-4 + 0.5 * (0.01 - 1e-4) * (1 + Math.cos((Math.PI * t) / 3));
    rows.forEach((row, t) => assert.ok(Math.abs(row.lr - cosine(t)) < 1e-12, `epoch ${t}: ${row.lr} vs ${cosine(t)}`));
    assert.equal(rows.length, 3);
    assert.equal(argsOf(runDir).epochs, 3, 'args.yaml records the extended schedule');
  });

  it('--resume with --data elsewhere: the run\'s classes continue, other classes are exit 2 naming the difference', () => {
    const moved = join(dir, 'moved');
    cpSync(data, moved, { recursive: true });
    const first = runTrainer(['--data', moved, '--output', join(dir, 'moving'), '--width', '0.35', '--img-size', '32', '--batch-size', '8',
      '--workers', '1', '--epochs', '1', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const { runDir } = JSON.parse(first.stdout) as { runDir: string };
    const elsewhere = join(dir, 'elsewhere');
    renameSync(moved, elsewhere);
    const lost = runTrainer(['--resume', runDir, '--epochs', '2']);
    assert.equal(lost.code, 2, lost.stderr);
    assert.match(lost.stderr, /dataset .*moved does not exist \(the run's data: --data DIR if it moved\)/);
    const [renamed, ...kept] = readdirSync(join(elsewhere, 'train')).sort();
    for (const split of ['train', 'val']) renameSync(join(elsewhere, split, renamed), join(elsewhere, split, 'zz-other'));
    const other = runTrainer(['--resume', runDir, '--epochs', '2', '--data', elsewhere]);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, new RegExp(`data: .*elsewhere does not have the run's classes \\(classes\\.txt\\): missing ${renamed}; not in the run: zz-other$`, 'm'));
    assert.ok(kept.length > 0);
    for (const split of ['train', 'val']) renameSync(join(elsewhere, split, 'zz-other'), join(elsewhere, split, renamed));
    const resumed = runTrainer(['--resume', runDir, '--epochs', '2', '--data', elsewhere]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(argsOf(runDir).data, elsewhere, 'args.yaml records where the data is now');
  });

  it('bad input: one sentence on stderr, exit 2, nothing trained', () => {
    const cases: [string[], RegExp][] = [
      [['--data', data, '--lrr', '0.1'], /^mnext_torch\.train: command line: unknown key 'lrr' \(did you mean 'lr'\?\)$/],
      [['--data', join(dir, 'missing'), '--output', join(dir, 'bad')], /^mnext_torch\.train: dataset .*missing does not exist$/],
      [['--data', data, '--model', 'resnet50', '--output', join(dir, 'bad')], /^mnext_torch\.train: model 'resnet50': unknown model 'resnet50'; known models: mobilenext_140, /],
      [['--config', join(CONFIGS, 'quickstart.yaml'), '--data', join(dir, 'nowhere')], /npx mnext data synthetic --out .*nowhere --classes 10 --per-class 60 --size 40/],
    ];
    const broken = join(dir, 'broken');
    cpSync(data, broken, { recursive: true });
    const [firstClass] = readdirSync(join(broken, 'train')).sort();
    writeFileSync(join(broken, 'train', firstClass, 'zz-broken.png'), 'not an image');
    cases.push([['--data', broken, '--output', join(dir, 'bad-image'), '--img-size', '32', '--width', '0.35', '--batch-size', '2', '--workers', '1', '--epochs', '1'],
      /^mnext_torch\.train: .*zz-broken\.png: cannot decode the image \(cannot identify image file .*\)$/]);
    for (const [args, message] of cases) {
      const run = runTrainer(args);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr.trim().split('\n').pop()!, message);
    }
    assert.ok(!existsSync(join(dir, 'bad')), 'no run folder for a run that could not start');
  });
});
