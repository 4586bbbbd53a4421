import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { runCli, tempDir } from '../helpers.js';
import { SKIP_NO_TORCH, runPythonFile, runTorchPython } from '../io/torch/python.js';
import { torchrunTrainer, trainerLines } from './torchrun.js';

/**
 * mnext_torch.train under torchrun (gloo, CPU): data parallelism that takes the steps one process takes, and a run
 * that starts from `mnext export` and comes back through `mnext import` with the trainer's own top-1.
 */
const CONFIGS = join(import.meta.dirname, '..', '..', 'configs');
const DDP_STEP = join(import.meta.dirname, 'ddp_step.py');

interface TrainResult {
  runDir: string;
  lastDir: string;
  summary: { train_loss: number; eval_top1: number }[];
}

/** `--key value` pairs of a flags object. */
const flagsOf = (flags: Record<string, string>) => Object.entries(flags).flatMap(([key, value]) => [`--${key}`, value]);

/**
 * The largest |a − b| of any tensor of two checkpoints' state_dict and state_dict_ema, relative to that tensor's
 * largest |b| (with a floor of 1e-3: BN shifts whose gradient is zero in exact arithmetic hold only rounding noise).
 */
function largestRelativeDifference(a: string, b: string): number {
  return Number(runTorchPython(`import sys, torch
a, b = (torch.load(p, map_location='cpu') for p in sys.argv[1:])
worst = 0.0
for entry in ('state_dict', 'state_dict_ema'):
    for k, v in b[entry].items():
        v, w = v.double(), a[entry][k].double()
        worst = max(worst, ((w - v).abs().max() / v.abs().max().clamp(min=1e-3)).item())
print(worst)`, [a, b]));
}

describe('torchrun --nproc_per_node=2: the first step of 1 process at the same global batch', { skip: SKIP_NO_TORCH }, () => {
  const dir = tempDir('mnext-ddp-step-');
  const data = join(dir, 'data');
  before(async () => {
    // 16 training images: one step of the global batch of 16, 8 images per process.
    await generateSyntheticDataset(data, { classes: 2, perClass: 8, size: 64, seed: 5, valFraction: 0.25 });
  });

  // Transforms that draw no pixel-changing randomness (a full-image crop of square images, no flip, jitter, erasing
  // or dropout), so both launches see the same pixels although each process seeds its own augmentation stream.
  const recipe = (model: string, output: string) => ({
    data, output, model, 'img-size': '64', 'num-classes': '2', 'batch-size': '16', epochs: '1', sched: 'step', 'warmup-epochs': '0',
    lr: '0.2', scale: '1,1', ratio: '1,1', hflip: '0', 'color-jitter': '0', interpolation: 'bilinear', reprob: '0', drop: '0',
    'drop-connect': '0', 'model-ema': 'true', 'model-ema-decay': '0.5', workers: '1', ...(model === 'mobilenext' ? { width: '0.35' } : {}),
  });

  // mobilenext; mnext_s has the official unused _bn1, which DDP must be told about.
  for (const model of ['mobilenext', 'mnext_s']) {
    it(`${model}: the same loss, weights, BN statistics and EMA as 1 process with BatchNorm per process`, () => {
      // Float64 and BatchNorm per process in the reference: ddp_step.py explains why both.
      const args = (launch: string) => [...flagsOf(recipe(model, join(dir, `${model}-${launch}`))), '--json'];
      const ddp = torchrunTrainer(2, [...args('ddp')], [DDP_STEP, '2']);
      assert.equal(ddp.code, 0, ddp.stderr);
      assert.match(ddp.stderr, /2 processes \(gloo\)/);
      const distributed = JSON.parse(ddp.stdout) as TrainResult;
      // 1 process with BatchNorm over the whole batch is the control: the comparison does see that difference.
      const [perProcess, wholeBatch] = [2, 1].map((n) => JSON.parse(runPythonFile(DDP_STEP, [String(n), ...args(`${n}`)])) as TrainResult);
      const checkpoint = (run: TrainResult) => join(run.lastDir, 'checkpoint.pth.tar');
      const [loss, reference] = [distributed, perProcess].map((run) => run.summary[0].train_loss);
      assert.ok(Math.abs(loss - reference) <= 1e-5 * reference, `first-step loss ${loss} vs ${reference}`);
      const difference = largestRelativeDifference(checkpoint(distributed), checkpoint(perProcess));
      assert.ok(difference <= 1e-5, `weights differ by ${difference} (relative)`);
      const controlDifference = largestRelativeDifference(checkpoint(distributed), checkpoint(wholeBatch));
      assert.ok(controlDifference > 1e-3, `BatchNorm over the whole batch differs by only ${controlDifference}; the comparison would not see a difference`);
    });
  }
});

describe('torchrun --resume', { skip: SKIP_NO_TORCH }, () => {
  const dir = tempDir('mnext-ddp-resume-');
  const data = join(dir, 'data');
  before(async () => {
    await generateSyntheticDataset(data, { classes: 2, perClass: 8, size: 36, seed: 6, valFraction: 0.25 });
  });

  it('a run resumed under torchrun after its first epoch repeats the uninterrupted run', () => {
    // Random crops, flips, jitter, erasing and mixup: every process's augmentation stream must resume too.
    const args = (output: string) => ['--data', data, '--output', join(dir, output), '--width', '0.35', '--img-size', '32', '--batch-size', '8',
      '--sched', 'cosine', '--warmup-epochs', '0', '--model-ema', '--model-ema-decay', '0.9', '--mixup', '0.2', '--reprob', '0.3', '--workers', '1', '--json'];
    const launch = (extra: string[]) => {
      const run = torchrunTrainer(2, extra);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as TrainResult;
    };
    const whole = launch([...args('whole'), '--epochs', '2']);
    const first = launch([...args('part'), '--epochs', '1']);
    const resumed = launch(['--resume', first.runDir, '--epochs', '2', '--json']);
    const rows = (run: TrainResult) => run.summary.map((row) => ({ ...row, img_per_sec: 0 }));
    assert.equal(rows(resumed).length, 2);
    assert.deepEqual(rows(resumed), rows(whole));
    const difference = largestRelativeDifference(join(resumed.lastDir, 'checkpoint.pth.tar'), join(whole.lastDir, 'checkpoint.pth.tar'));
    assert.equal(difference, 0, 'the same weights, BN statistics and EMA');
  });
});

describe('torchrun end to end: mnext export → 2 processes → mnext import → mnext eval', { skip: SKIP_NO_TORCH }, () => {
  const dir = tempDir('mnext-ddp-e2e-');
  const data = join(dir, 'fashion-mnist');

  it('one epoch from an exported mnext run; mnext eval of the imported result gives the trainer\'s top-1', async (t) => {
    // 32 px: the 28 px images are enlarged, by PIL in the trainer and by mnext's Pillow arithmetic in mnext eval;
    // any difference in those bytes moves near-tie images of a weak model (it did, by a point, when mnext enlarged
    // with libvips).
    const made = await runCli('data', 'fashion-mnist', '--out', data, '--limit-train', '1024', '--limit-val', '500');
    assert.equal(made.code, 0, made.stderr);
    const local = await runCli('train', '--config', join(CONFIGS, 'fashion_mnist.yaml'), '--data', data, '--output', join(dir, 'mnext'),
      '--img-size', '32', '--width', '0.35', '--batch-size', '32', '--lr', '0.02', '--epochs', '3', '--json');
    assert.equal(local.code, 0, local.stderr);
    const localRun = (JSON.parse(local.stdout) as { runDir: string }).runDir;
    const exported = await runCli('export', localRun, '--to', 'pytorch', '--out', join(dir, 'init.pth'));
    assert.equal(exported.code, 0, exported.stderr);
    const recipe = join(dir, 'init.yaml');
    assert.match(exported.stdout, /recipe .*init\.yaml: continue in PyTorch/);
    assert.deepEqual(parse(readFileSync(recipe, 'utf8')), {
      ...parse(readFileSync(join(localRun, 'args.yaml'), 'utf8')), width: 0.35, num_classes: 10, replicas: 1, backend: '',
    }, 'the run\'s recipe, with the model the weights are');
    // A recipe of one's own where the export's would go is not replaced, and then neither is written.
    writeFileSync(join(dir, 'mine.yaml'), readFileSync(join(CONFIGS, 'fashion_mnist.yaml')));
    const refused = await runCli('export', localRun, '--to', 'pytorch', '--out', join(dir, 'mine.pth'));
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refusing to replace .*mine\.yaml: it is a file mnext did not write as a training recipe/);
    assert.ok(!existsSync(join(dir, 'mine.pth')));

    const trained = torchrunTrainer(2, ['--config', recipe, '--initial-checkpoint', join(dir, 'init.pth'), '--data', data,
      '--output', join(dir, 'torch'), '--epochs', '1', '--lr', '0.005', '--model-ema', '--model-ema-decay', '0.9', '--workers', '1', '--json']);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stderr, /^initial weights: .*init\.pth$/m);
    const run = JSON.parse(trained.stdout) as TrainResult;
    const summary = readFileSync(join(run.runDir, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(summary[0], 'epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,img/s');
    const top1 = run.summary[0].eval_top1;
    assert.ok(top1 > 20, `the model learnt something (${top1} % top-1): a constant prediction would match anything`);

    // No flag: the checkpoint records the model, the classes and the eval transform. The EMA's metrics are the reported ones.
    const imported = await runCli('import', join(run.lastDir, 'checkpoint.pth.tar'), '--out', join(dir, 'imported'), '--json');
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual((({ arch, width, numClasses, ema }) => ({ arch, width, numClasses, ema }))(JSON.parse(imported.stdout)),
      { arch: 'mobilenext', width: 0.35, numClasses: 10, ema: true });
    const recorded = loadCheckpoint(join(dir, 'imported'));
    assert.deepEqual([recorded.classes, recorded.cropPct, recorded.interpolation, recorded.mean],
      [readdirSync(join(data, 'train')).sort(), 1, 'bilinear', [0.485, 0.456, 0.406]], 'the run\'s classes and eval transform');
    const evaluated = await runCli('eval', '--model', join(dir, 'imported'), '--data', data, '--use-ema', '--json');
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const mnextTop1 = (JSON.parse(evaluated.stdout) as { top1: number }).top1;
    assert.ok(Math.abs(mnextTop1 - top1) <= 0.1, `mnext eval ${mnextTop1} % vs the trainer's ${top1} %`);
    t.diagnostic(`EMA top-1: trainer ${top1} %, mnext eval of the import ${mnextTop1} %`);
  });

  it('bad input under torchrun: one sentence, once, and no run folder', async () => {
    const output = join(dir, 'refused');
    const cases: [string[], RegExp][] = [
      [['--data', data, '--batch-size', '33'], /^mnext_torch\.train: batch_size: 33 is the global batch and does not split over the 2 processes of this launch .*use a multiple of 2$/],
      [['--data', join(dir, 'missing')], /^mnext_torch\.train: dataset .*missing does not exist$/],
      [['--data', data, '--initial-checkpoint', join(dir, 'init.pth'), '--freeze-backbone'], /^mnext_torch\.train: freeze_backbone: .*set it to false, got true$/],
    ];
    for (const [args, message] of cases) {
      const refused = torchrunTrainer(2, [...args, '--output', output]);
      assert.notEqual(refused.code, 0);
      // Every process meets the same refusal; rank 0 alone says it (after the header line, when it got that far).
      const lines = trainerLines(refused.stderr).filter((line) => !/^mnext_torch\.train: \S+ on .*, torch /.test(line));
      assert.equal(lines.length, 1, refused.stderr);
      assert.match(lines[0], message);
    }
    assert.throws(() => readdirSync(output), /ENOENT/);
  });
});
