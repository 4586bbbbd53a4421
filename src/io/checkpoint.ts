import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/constants.js';
import { type EvalTransform, type Interpolation, recordedEvalTransform } from '../data/transforms.js';
import type { ModelSpec } from '../models/graph.js';
import { resolveModelSpec } from '../models/registry.js';
import { type FolderOutputKind, type OutputOptions, writeOutputSync } from '../util/output-path.js';
import { type StateDict, sizeOf } from '../models/state-dict.js';

export const CHECKPOINT_FORMAT = 'mnext-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** One weights file in the tfjs weights-manifest format, so plain `tf.io.decodeWeights` can read it. */
interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: 'float32' }[];
}

/** model.json of a checkpoint directory. */
export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** The model description's inputs, incl. the tensor multiplier official checkpoints lack. */
  spec: ModelSpec;
  /** Class names in label order (ImageFolder sort), when known. */
  classes?: string[];
  /** Input normalisation (0..1 scale). */
  mean: number[];
  std: number[];
  /** Centre-crop fraction the model was evaluated at in training (timm's crop_pct), when known. */
  cropPct?: number;
  /** Resize filter of that eval transform, when known. */
  interpolation?: Interpolation;
  /** Weight layout: PyTorch (OIHW / [out,in]) under state_dict names. */
  layout: 'pytorch';
  /** tfjs weights manifest for weights.bin (and ema.bin when present). */
  weightsManifest: ManifestGroup[];
  /** Free-form provenance: epoch, metric, source file... */
  info?: Record<string, unknown>;
}

/** `cropPct` / `interpolation`: the eval transform the model was trained with (eval and calibration default to it). */
export interface Checkpoint extends EvalTransform {
  spec: ModelSpec;
  weights: StateDict;
  /** EMA weights when the run kept a model EMA. */
  emaWeights?: StateDict;
  classes?: string[];
  mean?: number[];
  std?: number[];
  info?: Record<string, unknown>;
  /**
   * Extra files stored beside the weights (training state: optimizer slots, scheduler, RNG, ...), by file
   * name. JSON values are written as `<name>`; state dicts as `<name>.bin` + `<name>.json` manifests.
   */
  extraJson?: Record<string, unknown>;
  extraWeights?: Record<string, StateDict>;
}

function packWeights(weights: StateDict, file: string): { bytes: Uint8Array; group: ManifestGroup } {
  const total = [...weights.values()].reduce((s, a) => s + a.data.length, 0);
  const packed = new Float32Array(total);
  const group: ManifestGroup = { paths: [file], weights: [] };
  let offset = 0;
  for (const [name, array] of weights) {
    if (array.data.length !== sizeOf(array.shape)) throw new Error(`checkpoint: ${name} has ${array.data.length} values for shape [${array.shape}]`);
    packed.set(array.data, offset);
    offset += array.data.length;
    group.weights.push({ name, shape: [...array.shape], dtype: 'float32' });
  }
  return { bytes: new Uint8Array(packed.buffer), group };
}

function unpackWeights(dir: string, group: ManifestGroup): StateDict {
  const path = join(dir, group.paths[0]);
  if (!existsSync(path)) throw new InputError(`checkpoint ${dir} is missing ${group.paths[0]}`);
  const buffer = readFileSync(path);
  const expected = group.weights.reduce((s, w) => s + sizeOf(w.shape), 0) * 4;
  if (buffer.length !== expected) {
    throw new InputError(`checkpoint file ${path} is truncated or corrupt (${buffer.length} bytes, expected ${expected})`);
  }
  const floats = new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length));
  const weights: StateDict = new Map();
  let offset = 0;
  for (const w of group.weights) {
    const n = sizeOf(w.shape);
    weights.set(w.name, { shape: w.shape, data: floats.subarray(offset, offset + n) });
    offset += n;
  }
  return weights;
}

/**
 * A checkpoint folder mnext wrote before output folders carried a marker: model.json with mnext's format field
 * and nothing but the files saveCheckpoint writes (so a folder where a user keeps other files is not taken).
 */
function isUnmarkedCheckpoint(dir: string): boolean {
  const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Partial<CheckpointMeta>;
  return meta.format === CHECKPOINT_FORMAT && readdirSync(dir).every((name) => /^(model\.json|classes\.txt|[\w.-]+\.(bin|json))$/.test(name));
}

export const CHECKPOINT_FOLDER: FolderOutputKind = { type: 'folder', description: 'checkpoint folder', id: 'checkpoint', recogniseUnmarked: isUnmarkedCheckpoint };

/**
 * Writes a checkpoint directory atomically: a complete new folder that loads back replaces the old one, never a
 * folder mnext did not write unless `force` (util/output-path.ts).
 */
export function saveCheckpoint(dir: string, checkpoint: Checkpoint, options: OutputOptions = {}): void {
  writeOutputSync(dir, CHECKPOINT_FOLDER, (temp) => {
    const manifest: ManifestGroup[] = [];
    const write = (name: string, weights: StateDict) => {
      const { bytes, group } = packWeights(weights, name);
      writeFileSync(join(temp, name), bytes);
      manifest.push(group);
    };
    write('weights.bin', checkpoint.weights);
    if (checkpoint.emaWeights) write('ema.bin', checkpoint.emaWeights);
    for (const [name, weights] of Object.entries(checkpoint.extraWeights ?? {})) write(`${name}.bin`, weights);
    for (const [name, value] of Object.entries(checkpoint.extraJson ?? {})) writeFileSync(join(temp, name), JSON.stringify(value, null, 1));
    const meta: CheckpointMeta = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      spec: checkpoint.spec,
      classes: checkpoint.classes,
      mean: checkpoint.mean ?? [...IMAGENET_MEAN],
      std: checkpoint.std ?? [...IMAGENET_STD],
      cropPct: checkpoint.cropPct,
      interpolation: checkpoint.interpolation,
      layout: 'pytorch',
      weightsManifest: manifest,
      info: checkpoint.info,
    };
    writeFileSync(join(temp, 'model.json'), JSON.stringify(meta, null, 1));
    if (checkpoint.classes) writeFileSync(join(temp, 'classes.txt'), `${checkpoint.classes.join('\n')}\n`);
  }, { ...options, verify: (staged) => void loadCheckpoint(staged) });
}

export function isCheckpointDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'model.json'));
}

/** Reads a checkpoint directory; every problem is one InputError sentence naming the file. */
export function loadCheckpoint(dir: string): Checkpoint {
  if (!isCheckpointDir(dir)) throw new InputError(`${dir} is not an mnext checkpoint directory (no model.json)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as CheckpointMeta;
  } catch (error) {
    throw new InputError(`${join(dir, 'model.json')} is not valid JSON: ${(error as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new InputError(`${dir}/model.json is not an mnext checkpoint (format '${String(meta.format)}')`);
  if (meta.version > CHECKPOINT_VERSION) throw new InputError(`${dir} was written by a newer mnext (checkpoint version ${meta.version})`);
  const { cropPct, interpolation } = recordedEvalTransform(`${dir}/model.json`, meta.cropPct, meta.interpolation);
  const spec = resolveModelSpec(meta.spec.arch, meta.spec);
  const groups = new Map(meta.weightsManifest.map((g) => [g.paths[0], g]));
  const weightsGroup = groups.get('weights.bin');
  if (!weightsGroup) throw new InputError(`${dir}/model.json lists no weights.bin`);
  const extraWeights: Record<string, StateDict> = {};
  for (const [file, group] of groups) {
    if (file !== 'weights.bin' && file !== 'ema.bin') extraWeights[file.replace(/\.bin$/, '')] = unpackWeights(dir, group);
  }
  return {
    spec,
    weights: unpackWeights(dir, weightsGroup),
    emaWeights: groups.has('ema.bin') ? unpackWeights(dir, groups.get('ema.bin')!) : undefined,
    classes: meta.classes,
    mean: meta.mean,
    std: meta.std,
    cropPct,
    interpolation,
    info: meta.info,
    extraWeights,
  };
}

/** Reads a JSON side file a checkpoint was saved with (`extraJson`). */
export function readCheckpointJson<T>(dir: string, name: string): T | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new InputError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}
