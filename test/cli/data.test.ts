import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startProgress, trackProgress } from '../../src/cli/progress.js';
import { runCli, tempDir } from '../helpers.js';

describe('mnext data / bench data', () => {
  it('makes a synthetic dataset, inspects it, and benchmarks the loader', async () => {
    const out = join(tempDir(), 'syn');
    const made = await runCli('data', 'synthetic', '--out', out, '--classes', '3', '--per-class', '6', '--img-size', '40x30', '--format', 'jpeg', '--json');
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(JSON.parse(made.stdout), { out, train: 18, val: 3 });
    const inspected = await runCli('data', 'inspect', out, '--json');
    assert.equal(inspected.code, 0, inspected.stderr);
    const reports = JSON.parse(inspected.stdout) as { split: string; images: number; width: { max: number }; formats: Record<string, number> }[];
    assert.deepEqual(reports.map((r) => [r.split, r.images, r.width.max]), [['train', 18, 40], ['val', 3, 40]]);
    assert.deepEqual(reports[0].formats, { jpeg: 18 });
    writeFileSync(join(out, 'train', '0-circle', 'broken.jpg'), 'not a jpeg');
    const failed = await runCli('data', 'inspect', out);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /cannot decode .*broken\.jpg: not an image/);
    const bench = await runCli('bench', 'data', '--data', out, '--workers', '2', '--batch-size', '4', '--img-size', '32', '--min-seconds', '0.1', '--json');
    assert.equal(bench.code, 0, bench.stderr);
    const result = JSON.parse(bench.stdout) as { mode: string; images: number; epochs: number; imgPerSec: number; workers: number; skipped: number };
    assert.deepEqual([result.mode, result.workers, result.skipped], ['data', 2, 1]);
    assert.ok(result.images >= 15 * result.epochs && result.images <= 16 * result.epochs, 'four batches of 4 an epoch, less the broken file if an epoch drew it');
    assert.ok(result.imgPerSec > 0);
  });

  it('gives one-sentence errors with exit code 2', async () => {
    const missing = await runCli('bench', 'data', '--data', join(tempDir(), 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist/);
    const badSize = await runCli('data', 'synthetic', '--out', join(tempDir(), 'x'), '--img-size', '0x5');
    assert.equal(badSize.code, 2);
    assert.match(badSize.stderr, /--img-size: expected/);
    const noIdx = await runCli('data', 'fashion-mnist', '--out', join(tempDir(), 'x'), '--from', tempDir());
    assert.equal(noIdx.code, 2);
    assert.match(noIdx.stderr, /no train-images-idx3-ubyte/);
  });

  it('prints plain progress lines when not on a terminal', async () => {
    const lines: string[] = [];
    const progress = startProgress({ label: 'epoch 1', total: 10, unit: 'images', tty: false, intervalMs: 0, output: { out: () => {}, err: (t) => lines.push(t) } });
    async function* batches() { yield 4; yield 6; }
    const seen: number[] = [];
    for await (const n of trackProgress(batches(), progress, (n) => n)) seen.push(n);
    assert.deepEqual(seen, [4, 6]);
    assert.match(lines[0], /^epoch 1: 4\/10 images \(40%\), [\d.]+ images\/s, eta /);
    assert.match(lines.at(-1) ?? '', /^epoch 1: 10\/10 images \(100%\), .*took /);
  });
});
