import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import {
  type FileOutputKind, type FolderOutputKind, OUTPUT_MARKER, checkOutputPath, createNewFolder, readTail, removeOwnOutput, writeOutput, writeOutputFile,
} from '../../src/util/output-path.js';
import { tempDir } from '../helpers.js';

/** A file kind whose own files start with a signature line, like mnext's CSVs. */
const NOTE: FileOutputKind = { type: 'file', description: 'note', recognise: (path) => readFileSync(path, 'utf8').startsWith('mnext note\n') };
const BUNDLE: FolderOutputKind = { type: 'folder', description: 'bundle folder', id: 'bundle' };
const OTHER_BUNDLE: FolderOutputKind = { type: 'folder', description: 'other folder', id: 'other' };

const fillBundle = (text: string) => (dir: string) => {
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'a.txt'), text);
};

/** Everything under `dir` but the hidden staging / aside siblings must be gone after every write. */
function siblings(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('.mnext-'));
}

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  const error = await (typeof promise === 'function' ? Promise.resolve().then(promise) : promise).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
  return error.message;
}

describe('output paths', () => {
  test('a missing path is created with its parents; own output is replaced; no staging is left behind', async () => {
    const root = tempDir();
    const file = join(root, 'a', 'b', 'note.txt');
    writeOutputFile(file, NOTE, 'mnext note\n1\n');
    writeOutputFile(file, NOTE, 'mnext note\n2\n');
    assert.equal(readFileSync(file, 'utf8'), 'mnext note\n2\n');
    const dir = join(root, 'bundle');
    await writeOutput(dir, BUNDLE, fillBundle('one'));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, OUTPUT_MARKER), 'utf8')).entries, ['sub', 'sub/a.txt']);
    await writeOutput(dir, BUNDLE, fillBundle('two'));
    assert.equal(readFileSync(join(dir, 'sub', 'a.txt'), 'utf8'), 'two');
    assert.deepEqual(siblings(root), []);
    assert.deepEqual(siblings(join(root, 'a', 'b')), []);
  });

  test('what mnext did not write is refused with one sentence naming the path and --force, and left as it was', async () => {
    const root = tempDir();
    const foreignFile = join(root, 'mine.txt');
    writeFileSync(foreignFile, 'my notes');
    assert.match(await refusal(() => writeOutputFile(foreignFile, NOTE, 'mnext note\n')), /^refusing to replace .*mine\.txt: it is a file mnext did not write as a note; pass --force to replace it$/);
    const foreignDir = join(root, 'public');
    mkdirSync(foreignDir);
    writeFileSync(join(foreignDir, 'index.html'), '<html>');
    assert.match(await refusal(writeOutput(foreignDir, BUNDLE, fillBundle('x'))), /public: it is a non-empty folder mnext did not write as a bundle folder; pass --force/);
    assert.match(await refusal(writeOutput(foreignFile, BUNDLE, fillBundle('x'))), /mine\.txt: it is a file and a bundle folder is a folder; pass --force/);
    assert.match(await refusal(() => writeOutputFile(foreignDir, NOTE, 'mnext note\n')), /public: it is a folder and a note is a file; pass --force/);
    assert.equal(readFileSync(foreignFile, 'utf8'), 'my notes');
    assert.deepEqual(readdirSync(foreignDir), ['index.html']);
    assert.deepEqual(siblings(root), []);
  });

  test('a folder of mnext\'s that someone added a file to, or mnext output of another kind, is not taken as own', async () => {
    const root = tempDir();
    const dir = join(root, 'bundle');
    await writeOutput(dir, BUNDLE, fillBundle('one'));
    await refusal(writeOutput(dir, OTHER_BUNDLE, fillBundle('x')));
    writeFileSync(join(dir, 'sub', 'added.txt'), 'mine');
    await refusal(writeOutput(dir, BUNDLE, fillBundle('two')));
    assert.equal(readFileSync(join(dir, 'sub', 'added.txt'), 'utf8'), 'mine');
  });

  test('--force replaces anything, still by a rename: a file by a folder, a folder by a file', async () => {
    const root = tempDir();
    const file = join(root, 'picture.png');
    writeFileSync(file, 'not mnext');
    await writeOutput(file, BUNDLE, fillBundle('forced'), { force: true });
    assert.equal(readFileSync(join(file, 'sub', 'a.txt'), 'utf8'), 'forced');
    writeOutputFile(file, NOTE, 'mnext note\n', { force: true });
    assert.equal(readFileSync(file, 'utf8'), 'mnext note\n');
    assert.deepEqual(siblings(root), []);
  });

  test('empty files and folders hold nothing to lose; a link is not taken as own', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'empty.txt'), '');
    writeOutputFile(join(root, 'empty.txt'), NOTE, 'mnext note\n');
    mkdirSync(join(root, 'empty'));
    await writeOutput(join(root, 'empty'), BUNDLE, fillBundle('x'));
    assert.ok(existsSync(join(root, 'empty', 'sub', 'a.txt')));
    writeFileSync(join(root, 'target.txt'), 'mnext note\n');
    symlinkSync(join(root, 'target.txt'), join(root, 'link.txt'));
    assert.match(await refusal(() => writeOutputFile(join(root, 'link.txt'), NOTE, 'mnext note\n2')), /not a regular file/);
  });

  test('a failed write or verification leaves the old output and no staging', async () => {
    const root = tempDir();
    const dir = join(root, 'bundle');
    await writeOutput(dir, BUNDLE, fillBundle('old'));
    await assert.rejects(writeOutput(dir, BUNDLE, () => { throw new Error('disk full'); }), /disk full/);
    await assert.rejects(writeOutput(dir, BUNDLE, fillBundle('new'), { verify: () => { throw new Error('logits differ'); } }), /logits differ/);
    assert.equal(readFileSync(join(dir, 'sub', 'a.txt'), 'utf8'), 'old');
    assert.deepEqual(siblings(root), []);
    assert.throws(() => writeOutputFile(join(root, 'x.txt'), NOTE, 'no signature'), /does not recognise as its own note/, 'writer and recogniser must agree');
    assert.ok(!existsSync(join(root, 'x.txt')));
  });

  test('a parent that is a file is one sentence; checkOutputPath fails before any work', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'file'), 'x');
    assert.match(await refusal(() => writeOutputFile(join(root, 'file', 'deeper', 'note.txt'), NOTE, 'mnext note\n')), /cannot write .*note\.txt: .*file is a file, not a folder/);
    writeFileSync(join(root, 'results.csv'), 'a,b\n1,2\n');
    assert.throws(() => checkOutputPath(join(root, 'results.csv'), NOTE), InputError);
    assert.doesNotThrow(() => checkOutputPath(join(root, 'results.csv'), NOTE, { force: true }));
  });

  test('removeOwnOutput removes only mnext\'s own output', async () => {
    const root = tempDir();
    await writeOutput(join(root, 'own'), BUNDLE, fillBundle('x'));
    mkdirSync(join(root, 'theirs'));
    writeFileSync(join(root, 'theirs', 'keep.txt'), 'x');
    removeOwnOutput(join(root, 'own'), BUNDLE);
    removeOwnOutput(join(root, 'theirs'), BUNDLE);
    assert.deepEqual(readdirSync(root), ['theirs']);
  });

  test('createNewFolder never reuses an existing folder or file', () => {
    const root = tempDir();
    mkdirSync(join(root, 'run'));
    writeFileSync(join(root, 'run', 'keep.txt'), 'x');
    writeFileSync(join(root, 'run-1'), 'a file');
    assert.equal(createNewFolder(join(root, 'run')), join(root, 'run-2'));
    assert.deepEqual(readdirSync(root).sort(), ['run', 'run-1', 'run-2']);
    assert.deepEqual(readdirSync(join(root, 'run')), ['keep.txt']);
  });

  test('readTail reads the end of a file', () => {
    const path = join(tempDir(), 'x.bin');
    writeFileSync(path, 'abcdef');
    assert.equal(Buffer.from(readTail(path, 2)).toString(), 'ef');
    assert.equal(Buffer.from(readTail(path, 100)).toString(), 'abcdef');
  });
});
