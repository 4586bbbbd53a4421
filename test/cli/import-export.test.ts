import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execute } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { loadFixture } from '../../src/io/fixture.js';
import { importTorchWeights } from '../../src/io/torch/source.js';
import { referenceFixture, referenceFixturesMissing, referenceTorchFile } from '../reference-fixtures.js';

function capture(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => stdout.push(s), err: (s) => stderr.push(s) };
}

describe('mnext import / mnext export --to pytorch', { skip: referenceFixturesMissing }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mnext-cli-torch-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('imports a legacy training checkpoint (raw weights + EMA) into a checkpoint directory', async () => {
    const out = join(dir, 'imported');
    const output = capture();
    const code = await execute(['node', 'mnext', 'import', referenceTorchFile('.ckpt.pth.tar'), '--width', '0.5',
      '--tensor-multiplier', '1', '--out', out, '--json'], output);
    assert.equal(code, 0, output.stderr.join(''));
    const summary = JSON.parse(output.stdout.join('')) as Record<string, unknown>;
    assert.equal(summary.format, 'legacy');
    assert.equal(summary.entry, 'state_dict');
    assert.equal(summary.numClasses, 10);
    assert.equal(summary.ema, true);
    const checkpoint = loadCheckpoint(out);
    const fixture = loadFixture(referenceFixture('mnext_050_64_c10'));
    assert.equal(checkpoint.spec.width, 0.5);
    assert.equal(checkpoint.spec.tensorMultiplier, 1);
    assert.ok(checkpoint.emaWeights);
    for (const [name, array] of fixture.weights) {
      assert.deepEqual(checkpoint.weights.get(name)!.data, array.data, name);
      assert.deepEqual(checkpoint.emaWeights.get(name)!.data, array.data, name);
    }
    assert.equal(checkpoint.info?.epoch, 7);
  });

  it('records --tensor-multiplier (not stored in .pth files) in the checkpoint spec', async () => {
    const out = join(dir, 'tm3');
    const code = await execute(['node', 'mnext', 'import', referenceTorchFile('.pth'), '--width', '0.5', '--tensor-multiplier', '3',
      '--use-ema', '--out', out], capture());
    assert.equal(code, 2); // a bare state_dict has no EMA weights
    const ok = capture();
    assert.equal(await execute(['node', 'mnext', 'import', referenceTorchFile('.pth'), '--width', '0.5', '--tensor-multiplier', '3', '--out', out], ok), 0);
    assert.match(ok.stdout.join(''), /tensor multiplier 3/);
    assert.equal(loadCheckpoint(out).spec.tensorMultiplier, 3);
  });

  it('exports a checkpoint back to a .pth that imports to the same tensors', async () => {
    const checkpointDir = join(dir, 'imported');
    const pth = join(dir, 'export.pth');
    const output = capture();
    assert.equal(await execute(['node', 'mnext', 'export', checkpointDir, '--to', 'pytorch', '--out', pth, '--use-ema'], output), 0, output.stderr.join(''));
    assert.match(output.stdout.join(''), /exported .* \(EMA\)/);
    assert.match(output.stdout.join(''), /no recipe: .*imported is not a checkpoint of an mnext train run/);
    assert.ok(!existsSync(join(dir, 'export.yaml')), 'a recipe only for a run\'s checkpoint');
    const back = importTorchWeights(pth, { width: 0.5 });
    const original = loadCheckpoint(checkpointDir);
    for (const [name, array] of original.emaWeights!) assert.deepEqual(back.source.weights.get(name)!.data, array.data, name);
  });

  it('bad input exits 2 with one sentence and writes nothing', async () => {
    const bad = join(dir, 'bad.pth');
    writeFileSync(bad, 'not a torch file at all');
    const cases: [string[], RegExp][] = [
      [['import', bad, '--out', join(dir, 'never')], /bad\.pth is not a readable PyTorch file/],
      [['import', referenceTorchFile('.pth'), '--out', join(dir, 'never')], /matches --arch mobilenext --width 0.5/],
      [['import', referenceTorchFile('.pth'), '--width', 'wide', '--out', join(dir, 'never')], /expected a positive number/],
      [['export', join(dir, 'imported'), '--to', 'onnx', '--out', join(dir, 'never.pth')], /--to: expected one of pytorch, got 'onnx'/],
      [['export', join(dir, 'missing-dir'), '--to', 'pytorch', '--out', join(dir, 'never.pth')], /no such file or directory/],
    ];
    for (const [argv, pattern] of cases) {
      const output = capture();
      assert.equal(await execute(['node', 'mnext', ...argv], output), 2, argv.join(' '));
      assert.match(output.stderr.join(''), pattern);
      assert.ok(!output.stderr.join('').includes('    at '), 'no stack trace');
    }
    assert.equal(existsSync(join(dir, 'never')), false);
    assert.equal(existsSync(join(dir, 'never.pth')), false);
  });
});
