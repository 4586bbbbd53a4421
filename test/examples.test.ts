import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from './helpers.js';

/**
 * The files in examples/ are documentation that must keep working: each runs here as a user would run it
 * (`npx tsx examples/<file>.ts ...`, 'mnext' resolved to this repository's src by tsconfig's paths). They chain:
 * train makes a synthetic dataset and a checkpoint, classify and convert use both.
 */
const ROOT = resolve(import.meta.dirname, '..');
const work = tempDir('mnext-examples-');
after(() => rmSync(work, { recursive: true, force: true }));

function runExample(name: string, ...args: string[]): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join('examples', `${name}.ts`), ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, `examples/${name}.ts failed:\n${run.stderr}`);
  return run.stdout;
}

const data = join(work, 'data');
const output = join(work, 'output');
let bestDir = '';
let image = '';

test('examples/train.ts trains a small model one epoch and classifies with its best checkpoint', () => {
  const stdout = runExample('train', data, output);
  assert.match(stdout, /^epoch 0: loss \d+\.\d+, top-1 \d+\.\d%$/m);
  bestDir = /^best checkpoint: (.+)$/m.exec(stdout)![1];
  const [runDir] = readdirSync(output);
  assert.equal(bestDir, join(output, runDir, 'best'));
  const classes = readdirSync(join(data, 'val')).sort();
  assert.equal(classes.length, 4);
  image = join(data, 'val', classes[0], readdirSync(join(data, 'val', classes[0])).sort()[0]);
  assert.match(stdout, new RegExp(`\\(${classes[0]}\\): (${classes.join('|')}) \\d+\\.\\d%$`, 'm'));
});

test('examples/classify.ts prints the top 3 classes per image, and one sentence with exit 2 for a missing file', () => {
  const stdout = runExample('classify', bestDir, image, image);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /: \S+ \d+\.\d%, \S+ \d+\.\d%, \S+ \d+\.\d%$/);
  assert.equal(lines[0], lines[1]);
  const missing = spawnSync(process.execPath, ['--import', 'tsx', 'examples/classify.ts', bestDir, join(work, 'none.png')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr.trim(), `cannot classify ${join(work, 'none.png')}: file not found`);
});

test('examples/convert.ts writes TFLite, ONNX and TF.js files that classify the image as the checkpoint does', () => {
  const stdout = runExample('convert', bestDir, image, work);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  const verdict = (line: string) => /: (\S+) (\d+\.\d+)%$/.exec(line)!.slice(1);
  const [label, percent] = verdict(lines[0]);
  for (const line of lines.slice(1)) {
    assert.match(line, /\((tflite|onnx|tfjs), max \|Δ\| /);
    const [otherLabel, otherPercent] = verdict(line);
    assert.equal(otherLabel, label, line);
    assert.ok(Math.abs(Number(otherPercent) - Number(percent)) <= 0.02, line);
  }
});
