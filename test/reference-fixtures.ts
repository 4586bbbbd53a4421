import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEM_PYTHON, pythonHas } from './helpers.js';

/**
 * Parity fixtures (`<name>.json` + `.weights.bin`: random weights, an NCHW input batch and PyTorch's eval-mode
 * logits) written at test time by the PyTorch twin's models (python/mnext_torch, through
 * scripts/torch_reference.py). Those models reproduce the official PyTorch code's fixtures to < 1e-6 with the same
 * state_dict names and order (measured by hand with the script's `check` command; the numbers are in its
 * docstring), so these stand in for the official fixtures, which are not part of the repository.
 */
const ROOT = join(import.meta.dirname, '..');
/** Every file the generator runs: the script and the mnext_torch modules it imports (test/python/fixtures.test.ts). */
export const GENERATOR_SOURCES: readonly string[] = [
  'scripts/torch_reference.py',
  'python/mnext_torch/__init__.py',
  'python/mnext_torch/fixtures.py',
  'python/mnext_torch/models/__init__.py',
  'python/mnext_torch/models/efficient.py',
  'python/mnext_torch/models/mobilenetv2.py',
  'python/mnext_torch/models/mobilenext.py',
].map((file) => join(ROOT, file));

/** mnext_torch.fixtures.make_fixture's keyword arguments (seeds are added in order). */
interface FixtureRecipe {
  readonly model: 'mnext' | 'mbv2' | 'mnext_s' | 'mnext_l';
  readonly width?: number;
  readonly num_classes: number;
  readonly input_size: number;
  readonly tensor_multiplier?: number;
  readonly batch?: number;
  /** Also `<name>.pth` (zip state_dict) and `<name>.ckpt.pth.tar` (legacy training checkpoint with EMA). */
  readonly torch_files?: boolean;
}

const RECIPES = {
  // The official fixtures' cases, same names, shapes and batch sizes.
  mnext_050_64_c10: { model: 'mnext', width: 0.5, num_classes: 10, input_size: 64, batch: 3, torch_files: true },
  mnext_100_64_c10_tm2: { model: 'mnext', num_classes: 10, input_size: 64, tensor_multiplier: 2 },
  mnext_100_224: { model: 'mnext', num_classes: 1000, input_size: 224 },
  mnext_s_224: { model: 'mnext_s', num_classes: 1000, input_size: 224, batch: 1 },
  mobilenetv2_100_224: { model: 'mbv2', num_classes: 1000, input_size: 224 },
  // Other widths, class counts, tensor multipliers and odd input sizes.
  mnext_035_31_c7: { model: 'mnext', width: 0.35, num_classes: 7, input_size: 31 },
  mnext_075_100_c10_tm3: { model: 'mnext', width: 0.75, num_classes: 10, input_size: 100, tensor_multiplier: 3 },
  mnext_140_47_c5_tm4: { model: 'mnext', width: 1.4, num_classes: 5, input_size: 47, tensor_multiplier: 4 },
  mnext_100_33_c3_tm6: { model: 'mnext', num_classes: 3, input_size: 33, tensor_multiplier: 6 },
  mobilenetv2_050_100_c12: { model: 'mbv2', width: 0.5, num_classes: 12, input_size: 100 },
  mobilenetv2_140_31_c4: { model: 'mbv2', width: 1.4, num_classes: 4, input_size: 31 },
  // mnext_l at 224 (its padding is computed for 240) and 240 (an odd 15x15 map before the stage-6 stride-2 conv).
  mnext_l_224: { model: 'mnext_l', num_classes: 1000, input_size: 224 },
  mnext_l_240_c10: { model: 'mnext_l', num_classes: 10, input_size: 240 },
} as const satisfies Record<string, FixtureRecipe>;

export type ReferenceFixtureName = keyof typeof RECIPES;

export const referenceFixturesMissing = pythonHas('torch') && pythonHas('torchvision')
  ? false
  : `python3-torch / python3-torchvision not installed for ${SYSTEM_PYTHON} (apt-get install python3-torch python3-torchvision): the reference fixtures are made with them`;

const recipeSet = JSON.stringify(Object.fromEntries(Object.entries(RECIPES).map(([name, recipe], seed) => [name, { ...recipe, seed }])));

/**
 * The set lives in a folder named by the hash of the recipes and the generator, so every test file of a run, and
 * later runs, share one generation, and an edited generator never serves stale files. It sits in this clone's
 * node_modules/.cache, where only this clone's generator writes.
 */
const CACHE_ROOT = join(ROOT, 'node_modules', '.cache', 'mnext-reference-fixtures');
const VERSION = createHash('sha256').update(recipeSet)
  .update(GENERATOR_SOURCES.map((file) => readFileSync(file, 'utf8')).join('\0')).digest('hex').slice(0, 16);
const CACHE = join(CACHE_ROOT, VERSION);

/**
 * Writes the whole set into a staging folder and renames it into place: a reader never sees half a set. Sets of
 * earlier versions go first (this clone's generator can no longer make them).
 */
function generate(): void {
  mkdirSync(CACHE_ROOT, { recursive: true });
  for (const entry of readdirSync(CACHE_ROOT)) {
    if (!entry.startsWith(VERSION)) rmSync(join(CACHE_ROOT, entry), { recursive: true, force: true });
  }
  const staging = mkdtempSync(`${CACHE}.partial-`);
  try {
    writeFileSync(join(staging, 'recipes.json'), recipeSet);
    const run = spawnSync(SYSTEM_PYTHON, [GENERATOR_SOURCES[0], 'make-set', join(staging, 'recipes.json'), staging], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`torch_reference.py make-set failed (${run.status ?? run.signal}): ${run.stderr}`);
    renameSync(staging, CACHE);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    // Another test process generating concurrently got there first: its set is as good as ours.
    if (!existsSync(CACHE)) throw error;
  }
}

/** The folder holding every reference fixture, generated on first use. */
function referenceFixturesDir(): string {
  if (!existsSync(CACHE)) generate();
  return CACHE;
}

/** Path of `<name>.json`. */
export function referenceFixture(name: ReferenceFixtureName): string {
  return join(referenceFixturesDir(), `${name}.json`);
}

/** mnext_050_64_c10's weights as a zip state_dict (`.pth`) or a legacy training checkpoint with EMA (`.ckpt.pth.tar`). */
export function referenceTorchFile(suffix: '.pth' | '.ckpt.pth.tar'): string {
  return join(referenceFixturesDir(), `mnext_050_64_c10${suffix}`);
}
