import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.js';
import { checkSplitClasses, openDataset } from '../../src/data/dataset.js';
import { SYSTEM_PYTHON, pythonHas, tempDir } from '../helpers.js';

/** Empty files are enough for scanning (decoding is not involved here). */
function touch(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
}

const CLASS_NAMES = ['n01440764', 'Zebra', 'apple', 'b10', 'b9', 'B2', '_under', 'émile', 'zz', '10', '9'];

function makeTree(root: string): void {
  for (const name of CLASS_NAMES) {
    touch(join(root, name, 'img_b.JPG'));
    touch(join(root, name, 'img_a.png'));
    touch(join(root, name, 'nested', 'deep.jpeg'));
    touch(join(root, name, 'notes.txt'));
  }
}

describe('openDataset', () => {
  it('orders classes and files exactly like torchvision ImageFolder (code-point sort)', () => {
    const root = tempDir();
    makeTree(root);
    const dataset = openDataset(root);
    assert.deepEqual(dataset.classes, ['10', '9', 'B2', 'Zebra', '_under', 'apple', 'b10', 'b9', 'n01440764', 'zz', 'émile']);
    assert.equal(dataset.samples.length, CLASS_NAMES.length * 3);
    assert.deepEqual(dataset.samples.slice(0, 3).map((s) => s.path.slice(root.length + 1)), ['10/img_a.png', '10/img_b.JPG', '10/nested/deep.jpeg']);
  });

  it('matches torchvision.datasets.ImageFolder sample for sample', { skip: pythonHas('torchvision') ? false : 'python3-torchvision is not installed' }, () => {
    const root = tempDir();
    makeTree(root);
    const script = 'import json,sys\nfrom torchvision import datasets\nd = datasets.ImageFolder(sys.argv[1], loader=lambda p: p)\nprint(json.dumps({"classes": d.classes, "samples": d.samples}))';
    const result = spawnSync(SYSTEM_PYTHON, ['-c', script, root], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const reference = JSON.parse(result.stdout) as { classes: string[]; samples: [string, number][] };
    const dataset = openDataset(root);
    assert.deepEqual(dataset.classes, reference.classes);
    assert.deepEqual(dataset.samples.map((s) => [s.path, s.label]), reference.samples);
  });

  it('reads train/ and val/, falls back to validation/, and names a missing split', () => {
    const root = tempDir();
    touch(join(root, 'train', 'a', '1.jpg'));
    touch(join(root, 'train', 'b', '1.jpg'));
    assert.throws(() => openDataset(root, 'val'), (e: Error) => e instanceof InputError && /no val\/ \(or validation\/\) folder/.test(e.message));
    touch(join(root, 'validation', 'b', '2.jpg'));
    const val = openDataset(root, 'val');
    assert.equal(val.root, join(root, 'validation'));
    assert.deepEqual(val.classes, ['b']);
    const train = openDataset(root, 'train');
    checkSplitClasses(train, val);
    assert.deepEqual(val.classes, ['a', 'b'], 'a val subset is re-indexed onto the train classes');
    assert.equal(val.samples[0].label, 1);
    const valOnly = tempDir();
    touch(join(valOnly, 'val', 'a', '1.jpg'));
    assert.throws(() => openDataset(valOnly, 'train'), /no train\/ folder/);
  });

  it('rejects a val class that train lacks, naming it', () => {
    const root = tempDir();
    touch(join(root, 'train', 'cat', '1.jpg'));
    touch(join(root, 'val', 'cat', '1.jpg'));
    touch(join(root, 'val', 'dog', '1.jpg'));
    assert.throws(() => checkSplitClasses(openDataset(root, 'train'), openDataset(root, 'val')),
      (e: Error) => e instanceof InputError && e.message.includes('dog') && !e.message.includes('cat'));
  });

  it('names every empty class folder in one error', () => {
    const root = tempDir();
    touch(join(root, 'full', '1.png'));
    mkdirSync(join(root, 'empty1'));
    touch(join(root, 'empty2', 'readme.txt'));
    assert.throws(() => openDataset(root), (e: Error) => e instanceof InputError && /empty1, empty2/.test(e.message));
    assert.throws(() => openDataset(join(root, 'missing')), /does not exist/);
  });

  it('follows symlinks once, so a loop ends', () => {
    const root = tempDir();
    touch(join(root, 'a', '1.jpg'));
    symlinkSync(join(root, 'a'), join(root, 'a', 'loop'));
    symlinkSync(join(root, 'a'), join(root, 'b'));
    const dataset = openDataset(root);
    assert.deepEqual(dataset.classes, ['a', 'b']);
    assert.deepEqual(dataset.samples.map((s) => s.label), [0, 1]);
  });

  it('reads a path,label list with numeric or named labels', () => {
    const root = tempDir();
    writeFileSync(join(root, 'list.csv'), 'path,label\nimgs/x.jpg,1\n/abs/y.png,0\n');
    const numeric = openDataset(join(root, 'list.csv'));
    assert.deepEqual(numeric.classes, ['0', '1']);
    assert.deepEqual(numeric.samples, [{ path: join(root, 'imgs/x.jpg'), label: 1 }, { path: '/abs/y.png', label: 0 }]);
    writeFileSync(join(root, 'classes.txt'), 'cat\ndog\n');
    assert.deepEqual(openDataset(join(root, 'list.csv')).classes, ['cat', 'dog']);
    writeFileSync(join(root, 'named.txt'), 'a.jpg dog\nb.jpg cat\n');
    const named = openDataset(join(root, 'named.txt'));
    assert.deepEqual(named.classes, ['cat', 'dog']);
    assert.deepEqual(named.samples.map((s) => s.label), [1, 0]);
  });
});
