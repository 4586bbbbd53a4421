import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { resolveConfig } from '../../src/train/config.js';
import { InputError, UsageError } from '../../src/errors.js';
import { train } from '../../src/train/engine.js';
import { readTrainState } from '../../src/train/run-state.js';
import { learningRate } from '../../src/train/scheduler.js';
import { runCli, tempDir } from '../helpers.js';
import { TINY_RUN, tinyDataset } from './tiny.js';

const dataset = tinyDataset();
const TINY = { ...TINY_RUN, min_lr: '0.0001', backend: 'wasm' };

function tinyConfig(output: string, extra: Record<string, string> = {}) {
  return resolveConfig({ flags: { data: dataset(), output, ...TINY, epochs: '2', ...extra } });
}

/** A run's config as `mnext train --resume RUN --<key> <value> ...` resolves it. */
function resumeConfig(runDir: string, flags: Record<string, string> = {}) {
  return resolveConfig({ flags: { resume: runDir, ...flags } });
}

const withoutSpeed = (csv: string) => csv.trim().split('\n').map((line) => line.split(',').slice(0, -1).join(','));
const argsOf = (runDir: string) => parse(readFileSync(join(runDir, 'args.yaml'), 'utf8')) as Record<string, unknown>;

function assertSameWeights(a: string, b: string): void {
  const x = loadCheckpoint(a);
  const y = loadCheckpoint(b);
  for (const [name, value] of x.weights) assert.deepEqual(y.weights.get(name)!.data, value.data, name);
}

test('--resume with a larger --epochs extends the run: a 1-epoch cosine run taken to 3 repeats a straight 3-epoch run', async () => {
  const first = await train(tinyConfig(tempDir(), { epochs: '1' }));
  assert.equal(first.rows.length, 1);
  const config = resumeConfig(first.runDir, { epochs: '3' });
  assert.equal(config.model, 'mobilenext_035', 'the run\'s own config supplies every key not given');
  assert.equal(config.data, dataset());
  const resumed = await train(config);
  assert.equal(resumed.runDir, first.runDir);
  assert.equal(resumed.epochsRun, 2);
  // The LR of epoch t follows the 3-epoch schedule from where the run stopped (cosine at t = 0 is lr for any length).
  const schedule = { sched: 'cosine', lr: 0.01, epochs: 3, warmupEpochs: 0, warmupLr: 1e-4, minLr: 1e-4, decayEpochs: 30, decayRate: 0.1, cooldownEpochs: 0 } as const;
  assert.deepEqual(resumed.rows.map((r) => r.lr), [0, 1, 2].map((t) => learningRate(schedule, t)));
  const straight = await train(tinyConfig(tempDir(), { epochs: '3' }));
  assert.deepEqual(withoutSpeed(readFileSync(resumed.summary, 'utf8')), withoutSpeed(readFileSync(straight.summary, 'utf8')));
  assertSameWeights(straight.lastDir, resumed.lastDir);
  assert.deepEqual(readdirSync(first.runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
  assert.equal(argsOf(first.runDir).epochs, 3, 'args.yaml records the extended schedule');
  assert.equal(readTrainState(resumed.lastDir)!.config.epochs, 3, 'and so does last/, for the next resume');
  assert.equal(readFileSync(resumed.summary, 'utf8').trim().split('\n').length, 4);
});

test('a smaller --epochs shortens the run: the next epoch takes the shorter cosine\'s LR and the run ends there', async () => {
  const first = await train(tinyConfig(tempDir(), { epochs: '4' }), { stopAfterEpochs: 1 });
  const resumed = await train(resumeConfig(first.runDir, { epochs: '2' }));
  assert.equal(resumed.rows.length, 2);
  assert.equal(resumed.rows[1].lr, 1e-4 + 0.5 * (0.01 - 1e-4) * (1 + Math.cos(Math.PI / 2)), 'cosine over 2 epochs at t = 1');
  assert.equal(argsOf(first.runDir).epochs, 2);
  assert.equal(loadCheckpoint(resumed.lastDir).info?.epoch, 1);
});

test('a finished run without a larger --epochs says so, trains nothing and changes no file', async () => {
  const run = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const summary = readFileSync(run.summary, 'utf8');
  const lastWeights = readFileSync(join(run.lastDir, 'weights.bin'));
  const logged: string[] = [];
  const again = await train(resumeConfig(run.runDir), { events: { log: (m) => logged.push(m) } });
  assert.equal(again.epochsRun, 0);
  assert.deepEqual(logged, ['finished at epoch 1 of 1; pass --epochs N to continue']);
  const cli = await runCli('train', '--resume', run.runDir, '--no-progress');
  assert.equal(cli.code, 0);
  assert.match(cli.stderr, /^mnext train: mobilenext_035 on .*synthetic, backend wasm/m, 'the header shows the resumed run\'s model and data');
  assert.match(cli.stderr, /finished at epoch 1 of 1; pass --epochs N to continue/);
  assert.equal(readFileSync(run.summary, 'utf8'), summary);
  assert.deepEqual(readFileSync(join(run.lastDir, 'weights.bin')), lastWeights);
  assert.deepEqual(readdirSync(run.runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
});

test('any other changed key is refused naming each one (exit 2), before anything is written', async () => {
  const run = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const args = readFileSync(join(run.runDir, 'args.yaml'), 'utf8');
  await assert.rejects(train(resumeConfig(run.runDir, { epochs: '2', lr: '0.5', batch_size: '9' })), (error: unknown) => {
    assert.ok(error instanceof UsageError, String(error));
    assert.match(error.message, /^resume: batch_size \(run: 6, given: 9\), lr \(run: 0\.01, given: 0\.5\) differ from the run's args\.yaml; a resumed run may change only epochs, cooldown_epochs, data, workers, replicas, threads, backend, output$/);
    return true;
  });
  const cli = await runCli('train', '--resume', run.runDir, '--epochs', '2', '--smoothing', '0.2', '--no-progress');
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /resume: smoothing \(run: 0\.1, given: 0\.2\) differs from the run's args\.yaml/);
  assert.equal(readFileSync(join(run.runDir, 'args.yaml'), 'utf8'), args);
  assert.equal(readFileSync(run.summary, 'utf8').trim().split('\n').length, 2);
  // Execution settings are free: another output, worker count, replica count and backend.
  const free = await train(resumeConfig(run.runDir, { epochs: '2', output: tempDir(), workers: '1', backend: 'cpu' }));
  assert.equal(free.runDir, run.runDir, 'the run continues in its own folder');
  assert.equal(free.rows.length, 2);
});

test('a resumed run rewrites its own args.yaml only: one mnext did not write (timm\'s, sorted by name) is refused naming --force', async () => {
  const run = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const timmArgs = 'aa: null\namp: false\nbatch_size: 6\ndata: x\nepochs: 1\n';
  writeFileSync(join(run.runDir, 'args.yaml'), timmArgs);
  await assert.rejects(train(resumeConfig(run.runDir, { epochs: '2' })), (error: unknown) => {
    assert.ok(error instanceof InputError && /args\.yaml.*--force/.test(error.message), String(error));
    return true;
  });
  assert.equal(readFileSync(join(run.runDir, 'args.yaml'), 'utf8'), timmArgs);
  assert.equal(readFileSync(run.summary, 'utf8').trim().split('\n').length, 2, 'nothing trained');
  const forced = await train(resumeConfig(run.runDir, { epochs: '2' }), { force: true });
  assert.equal(forced.rows.length, 2);
  assert.equal(argsOf(run.runDir).epochs, 2);
});

test('--data may point at the moved dataset when its classes are the run\'s; other classes are exit 2 naming the difference', async () => {
  const moved = join(tempDir(), 'moved');
  cpSync(dataset(), moved, { recursive: true });
  const run = await train(resolveConfig({ flags: { data: moved, output: tempDir(), ...TINY, epochs: '1' } }));
  const elsewhere = join(tempDir(), 'elsewhere');
  renameSync(moved, elsewhere);
  await assert.rejects(train(resumeConfig(run.runDir, { epochs: '2' })), (error: unknown) => {
    assert.ok(error instanceof InputError && /dataset .*moved does not exist \(the run's data: --data DIR if it moved\)/.test(error.message), String(error));
    return true;
  });
  const resumed = await train(resumeConfig(run.runDir, { epochs: '2', data: elsewhere }));
  assert.equal(resumed.rows.length, 2);
  assert.equal(argsOf(run.runDir).data, elsewhere, 'args.yaml records where the data is now');
  for (const split of ['train', 'val']) renameSync(join(elsewhere, split, '2-triangle'), join(elsewhere, split, '2-star'));
  const cli = await runCli('train', '--resume', run.runDir, '--epochs', '3', '--no-progress');
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /data: .*elsewhere does not have the run's classes \(classes\.txt\): missing 2-triangle; not in the run: 2-star/);
  assert.equal(readFileSync(resumed.summary, 'utf8').trim().split('\n').length, 3, 'nothing trained');
  assert.ok(!existsSync(join(run.runDir, 'recovery')));
});
