import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/**
 * The layers of src/, bottom first: a module may import its own folder and any folder of a lower rank, never one
 * of the same or a higher rank. So the folder graph is acyclic and points from the CLI down to errors and util.
 */
const RANKS: Record<string, number> = {
  // Below util, so util's output writer can refuse a path with an InputError.
  'errors.ts': -1,
  util: 0,
  backend: 1,
  models: 2,
  data: 2,
  io: 3,
  formats: 4,
  runtimes: 5,
  train: 6,
  eval: 6,
  convert: 6,
  profile: 7,
  bench: 7,
  demo: 7,
  'index.ts': 8,
  cli: 9,
};

const SRC = resolve(import.meta.dirname, '..', 'src');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs)$/.test(name) ? [path] : [];
  });
}

/** The layer a path under src/ belongs to: its top folder, or the file itself at the top. */
function layerOf(path: string): string {
  return relative(SRC, path).split(/[\\/]/)[0].replace(/\.js$/, '.ts');
}

function upwardImports(): string[] {
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const to = layerOf(resolve(dirname(file), match[1]));
      if (to === from) continue;
      if (!(from in RANKS) || !(to in RANKS)) problems.push(`${relative(SRC, file)}: '${from}' or '${to}' has no layer in RANKS`);
      else if (RANKS[to] >= RANKS[from]) problems.push(`${relative(SRC, file)} (${from}) imports ${match[1]} (${to})`);
    }
  }
  return problems;
}

test('every folder of src/ has a layer', () => {
  const layers = readdirSync(SRC).filter((name) => !name.endsWith('.map'));
  assert.deepEqual(layers.filter((name) => !(name in RANKS)), []);
});

test('imports point down the layers only (cli → use cases → formats/runtimes → models/data/io → util, errors)', () => {
  assert.deepEqual(upwardImports(), []);
});
