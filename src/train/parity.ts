/**
 * Training parity with PyTorch, step by step: the same model from the same initial weights, fed the same uint8
 * batches, trained N steps by mnext (once per variant: the wasm backend with all its fast paths, with one of them
 * switched off, on one thread instead of the machine's cores, the cpu backend) and by the PyTorch twin (`python3 -m mnext_torch.replay`). The report gives the
 * per-step loss difference and, at the end, the relative difference of every tensor — weights, BN running
 * statistics, optimiser momentum, EMA — grouped by kind.
 *
 * Both sides are measured against a reference: the twin again in float64 (`--dtype float64`), the trajectory that
 * float32 rounding perturbs. PyTorch's own float32 run drifts from it, and that drift is the yardstick of float
 * noise: a variant passes when its mean |Δloss| from the reference over the run is within `factor` times PyTorch
 * float32's (plus a floor), and so is each tensor group's median relative difference
 * (docs/accuracy.md states and measures the bound, and why float64 and not the cpu backend is the reference).
 * The cpu backend, which runs none of mnext's kernels, is a variant like the others.
 *
 * The exchange folder (documented in docs/accuracy.md):
 *   batches/images.npy  uint8 [steps, batch, size, size, 3]  the augmented images before normalisation (NHWC)
 *   batches/labels.npy  int64 [steps, batch]
 *   batches/batches.json {stepsPerEpoch, source}
 *   args.yaml           the recipe (dropout off: its masks cannot be replayed)
 *   init.pth            the initial state_dict (timm / official names, as `mnext export` writes)
 *   <side>/state.npz, <side>/losses.json  each side's end state and per-step loss and lr: the mnext variants,
 *                        twin/ (PyTorch float32) and reference/ (PyTorch float64)
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { backendThreads, ensureBackend, setThreads } from '../backend/index.js';
import { FAST_PATHS, type FastPath, setFastPaths } from '../backend/wasm/fast-paths.js';
import { openDataset } from '../data/dataset.js';
import { normalizeBatch } from '../data/batch-ops.js';
import { TfjsModel } from '../models/executor.js';
import { weightKinds } from '../models/fold.js';
import type { ModelGraph } from '../models/graph.js';
import { tfToTorch } from '../models/layout.js';
import { buildGraph } from '../models/registry.js';
import type { StateDict } from '../models/state-dict.js';
import { NpyWriter, npyShape, readNpyRows } from '../util/npy.js';
import { PACKAGE_ROOT } from '../util/package.js';
import { npzBytes, readNpz } from '../io/npz.js';
import { saveTorchStateDict } from '../io/torch/save.js';
import { type TrainConfig, configToYaml, resolveConfig } from './config.js';
import { findConfigFile } from './recipes.js';
import { ModelEma } from './ema.js';
import { modelSpecFor, scheduleOf, trainLoaderOf } from './engine.js';
import { initialWeights } from './finetune.js';
import { createOptimizer } from './optim.js';
import { stepLearningRate } from './scheduler.js';
import { type Optimizer, computeGradients, disposeGradientResult } from './step.js';
import { median } from '../util/stats.js';
import { startModuleWorker } from '../util/worker.js';

/**
 * 'wasm' (every fast path, on the recipe's `threads`, default the machine's cores), 'wasm-no-<path>' (one off),
 * 'wasm-1-thread' (every fast path, on one thread: its own engine in a worker thread, since a wasm engine's thread
 * count is fixed when it starts), 'cpu' (tfjs's reference kernels, none of mnext's).
 */
export type ParityVariant = 'wasm' | 'wasm-1-thread' | 'cpu' | `wasm-no-${FastPath}`;
const ONE_THREAD = 'wasm-1-thread';
export const PARITY_VARIANTS: readonly ParityVariant[] = ['wasm', ONE_THREAD, 'cpu', ...FAST_PATHS.map((p) => `wasm-no-${p}` as const)];
export const DEFAULT_PARITY_FACTOR = 2;
/** Below this, differences are float32 rounding of the values themselves (the floor of every comparison). */
const FLOOR = { loss: 1e-5, relative: 1e-6 };

export interface TrainParityEvents {
  log?(message: string): void;
  onStep?(side: string, step: number, steps: number, loss: number): void;
}

export interface TrainParityOptions {
  readonly steps: number;
  /** Keys set over the config or recipe, as train()'s. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** A new (or empty) folder for the batches, both sides' end states and the report. */
  readonly out: string;
  /** A batches/ folder recorded elsewhere (the twin's torchvision batches, or an earlier run) instead of mnext's loader. */
  readonly batches?: string;
  readonly variants?: readonly ParityVariant[];
  /** Run the PyTorch twin (default true); false leaves the folder ready for `python3 -m mnext_torch.replay OUT`. */
  readonly twin?: boolean;
  /** The python3 that has torch (default: $MNEXT_PYTHON, else python3). */
  readonly python?: string;
  /** A variant's drift may be this many times the cpu backend's (see the file comment). */
  readonly factor?: number;
  /** Mean |Δloss| is reported per window of this many steps (default: steps / 10, at least 1). */
  readonly window?: number;
  readonly events?: TrainParityEvents;
}

export interface TensorGroupDrift {
  readonly group: string;
  readonly tensors: number;
  /** Median and largest ‖mnext − twin‖ / ‖twin‖ over the group's tensors. */
  readonly median: number;
  readonly max: number;
  readonly worst: string;
  /** Median of (‖mnext‖ − ‖twin‖) / ‖twin‖: a systematic growth or shrinkage (weight decay, BN statistics) shows here. */
  readonly normChange: number;
}

/** How far a variant's run is from the 'wasm' variant's: switching one thing changes this much. */
export interface DifferenceFromWasm {
  readonly maxLossDiff: number;
  /** Tensors of the end state, and how many of them differ in any bit. */
  readonly tensors: number;
  readonly differing: number;
  /**
   * Median of ‖variant − wasm‖ / ‖wasm‖ over the differing tensors (the largest is of no use: gradients that are
   * zero but for rounding, such as a bias before a BN, give any two runs relative differences of 1 and more).
   */
  readonly medianRelativeDiff: number;
  /** Every loss and every value of the end state bit for bit the same. */
  readonly identical: boolean;
}

export interface VariantParity {
  /** An mnext variant, or 'twin' (PyTorch float32, the yardstick). */
  readonly variant: ParityVariant | 'twin';
  readonly seconds: number;
  /** The engine's intra-op threads (PyTorch's for the twin); absent in folders from before it was recorded. */
  readonly threads?: number;
  readonly losses: number[];
  /** |Δloss| per step against the float64 reference. */
  readonly lossDiff: number[];
  readonly maxLossDiff: number;
  /** Mean |Δloss| from the reference per window of steps. */
  readonly windows: number[];
  /** Largest |Δloss| against PyTorch float32 (the twin itself: 0). */
  readonly maxLossDiffToTwin: number;
  readonly maxLrDiff: number;
  /** Relative difference of the end state from the reference's, per group of tensors. */
  readonly groups: TensorGroupDrift[];
  /** Why it is outside the bound (empty: within; absent for the twin). */
  readonly outside?: string[];
  /** Against the 'wasm' variant, for the other mnext variants when it ran too. */
  readonly fromWasm?: DifferenceFromWasm;
}

export interface TrainParityReport {
  readonly out: string;
  readonly model: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly imageSize: number;
  readonly batchesFrom: string;
  /** PyTorch float64's loss per step. */
  readonly referenceLosses: number[];
  readonly window: number;
  readonly factor: number;
  /** PyTorch float32 against the reference: the yardstick. */
  readonly twin?: VariantParity;
  readonly variants: VariantParity[];
  /** Every variant within the bound (undefined when the twin did not run). */
  readonly pass?: boolean;
}

/** The recipe as both sides replay it: nothing random beyond the recorded batches. */
export function parityConfig(config: TrainConfig): TrainConfig {
  if (config.mixup > 0) throw new UsageError('mixup: the training-parity harness replays images as recorded; set mixup 0');
  if (config.reprob > 0) throw new UsageError('reprob: random erasing happens after the recorded batches; set reprob 0');
  if (config.replicas !== 1) throw new UsageError('replicas: the training-parity harness trains on the main thread; set replicas 1');
  return { ...config, drop: 0, drop_connect: 0, model_ema: true, backend: '' };
}

function checkOutFolder(out: string): void {
  if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`--out: ${out} is not empty; give a new folder`);
  mkdirSync(out, { recursive: true });
}

/** parity.json: what both sides read besides args.yaml. */
interface ParityMeta {
  readonly model: string;
  readonly steps: number;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  readonly imageSize: number;
  readonly batches: string;
  readonly batchesFrom: string;
}

interface BatchSource {
  readonly dir: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  readonly source: string;
}

/** What one mnext side trains: plain data, so that a worker thread can be handed it. */
export interface ReplayJob {
  readonly config: TrainConfig;
  readonly numClasses: number;
  readonly init: StateDict;
  readonly batches: BatchSource;
  readonly out: string;
}

/** Runs the recipe's train loader and keeps its first `steps` batches (uint8, before normalisation). */
async function recordBatches(config: TrainConfig, steps: number, dir: string, events: TrainParityEvents): Promise<BatchSource> {
  const loader = trainLoaderOf(config, openDataset(config.data, 'train'), events);
  const size = config.img_size;
  const batch = config.batch_size;
  mkdirSync(dir, { recursive: true });
  const images = new NpyWriter(join(dir, 'images.npy'), 'uint8', [steps, batch, size, size, 3]);
  const labels = new NpyWriter(join(dir, 'labels.npy'), 'int64', [steps, batch]);
  let recorded = 0;
  for (let epoch = 0; recorded < steps; epoch += 1) {
    for await (const b of loader.epoch(epoch)) {
      if (b.labels.length !== batch) throw new InputError(`${config.data}: a batch lost images that could not be decoded; the harness needs full batches`);
      images.append(b.images);
      labels.append(BigInt64Array.from(b.labels, (l) => BigInt(l)));
      recorded += 1;
      events.onStep?.('record', recorded, steps, NaN);
      if (recorded === steps) break;
    }
  }
  images.close();
  labels.close();
  const meta = { stepsPerEpoch: loader.batchesPerEpoch, source: 'mnext' };
  writeFileSync(join(dir, 'batches.json'), `${JSON.stringify(meta)}\n`);
  return { dir, steps, batchSize: batch, stepsPerEpoch: meta.stepsPerEpoch, source: meta.source };
}

/** A batches/ folder written by either side, checked against the recipe. */
function openBatches(dir: string, config: TrainConfig, steps: number): BatchSource {
  for (const file of ['images.npy', 'labels.npy', 'batches.json']) {
    if (!existsSync(join(dir, file))) throw new InputError(`--batches: ${dir} has no ${file}`);
  }
  const shape = npyShape(join(dir, 'images.npy'));
  const [count, batchSize, height, width, channels] = shape;
  if (shape.length !== 5 || height !== config.img_size || width !== config.img_size || channels !== 3) {
    throw new InputError(`--batches: images.npy is [${shape}], expected [steps, batch, ${config.img_size}, ${config.img_size}, 3]`);
  }
  if (count < steps) throw new InputError(`--batches: ${dir} holds ${count} batches, ${steps} steps asked for`);
  const meta = JSON.parse(readFileSync(join(dir, 'batches.json'), 'utf8')) as { stepsPerEpoch: number; source: string };
  return { dir, steps, batchSize, stepsPerEpoch: meta.stepsPerEpoch, source: meta.source };
}

function readBatch(batches: BatchSource, step: number): { images: Uint8Array; labels: Int32Array } {
  const images = readNpyRows(join(batches.dir, 'images.npy'), step, 1).data as Uint8Array;
  const labels = Int32Array.from(readNpyRows(join(batches.dir, 'labels.npy'), step, 1).data as BigInt64Array, Number);
  return { images, labels };
}

/** Model, momentum and EMA tensors in PyTorch layout under model/, momentum/, ema/. */
function endState(graph: ModelGraph, model: TfjsModel, optimizerState: StateDict, ema: ModelEma): StateDict {
  const state: StateDict = new Map();
  for (const [name, value] of model.stateDict()) state.set(`model/${name}`, value);
  for (const [name, value] of ema.model.stateDict()) state.set(`ema/${name}`, value);
  const kinds = weightKinds(graph);
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  for (const [key, value] of optimizerState) {
    const [slot, name] = key.split('/');
    if (slot !== 'momentum_buffer' || name === undefined) continue;
    state.set(`momentum/${name}`, { shape: [...shapes.get(name)!], data: tfToTorch(kinds.get(name) ?? 'vector', shapes.get(name)!, value.data) });
  }
  return state;
}

/** One optimiser step on a recorded batch, as the training engine takes it (no dropout, no mixup); its loss. */
function replayStep(batch: { images: Uint8Array; labels: Int32Array }, config: TrainConfig, model: TfjsModel, optimizer: Optimizer, lr: number): number {
  const x = normalizeBatch({ ...batch, size: config.img_size, paths: [] }, config.mean, config.std);
  const targets = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), model.graph.spec.numClasses), 'float32') as tf.Tensor2D);
  const result = computeGradients(model, x, targets, { smoothing: config.smoothing, seed: 0 });
  x.dispose();
  targets.dispose();
  optimizer.apply(result.grads, lr);
  model.updateRunningStats(result.batchStats);
  disposeGradientResult(result);
  return result.loss;
}

/**
 * Trains over the recorded batches on the engine as it is set up now and saves the end state and per-step losses
 * under out/<side>/.
 */
export async function replayOnEngine(side: ParityVariant, job: ReplayJob, events: TrainParityEvents): Promise<void> {
  const { config, batches } = job;
  const graph = buildGraph(modelSpecFor(config, job.numClasses));
  const model = new TfjsModel(graph, job.init);
  const optimizer = createOptimizer(model, { opt: config.opt, momentum: config.momentum, weightDecay: config.weight_decay, eps: config.opt_eps });
  const ema = new ModelEma(model, config.model_ema_decay);
  const schedule = scheduleOf(config);
  const losses: number[] = [];
  const lrs: number[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < batches.steps; i += 1) {
      const epoch = Math.floor(i / batches.stepsPerEpoch);
      const lr = stepLearningRate(schedule, epoch, i % batches.stepsPerEpoch, batches.stepsPerEpoch, config.sched_on_updates);
      losses.push(replayStep(readBatch(batches, i), config, model, optimizer, lr));
      ema.update(model);
      lrs.push(lr);
      events.onStep?.(side, i + 1, batches.steps, losses[i]);
    }
    const seconds = (performance.now() - started) / 1000;
    const dir = join(job.out, side);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.npz'), npzBytes(endState(graph, model, optimizer.stateDict(), ema)));
    writeFileSync(join(dir, 'losses.json'), `${JSON.stringify({ loss: losses, lr: lrs, seconds, threads: backendThreads() })}\n`);
  } finally {
    model.dispose();
    ema.dispose();
    optimizer.dispose();
  }
}

/** The one-thread variant: a worker thread (./parity-worker.ts) starts its own single-threaded wasm engine. */
function replayInOneThreadWorker(job: ReplayJob, events: TrainParityEvents): Promise<void> {
  const worker = startModuleWorker(import.meta.url, './parity-worker.js', { workerData: job });
  return new Promise((done, fail) => {
    worker.on('message', (m: { step: number; steps: number; loss: number }) => events.onStep?.(ONE_THREAD, m.step, m.steps, m.loss));
    worker.on('error', fail);
    worker.on('exit', (code) => (code === 0 ? done() : fail(new Error(`the ${ONE_THREAD} parity worker exited with code ${code}`))));
  });
}

/** Trains one mnext variant over the recorded batches and saves its end state under out/<variant>/. */
async function trainVariant(variant: ParityVariant, job: ReplayJob, events: TrainParityEvents): Promise<void> {
  if (variant === ONE_THREAD) return replayInOneThreadWorker(job, events);
  const backend = variant === 'cpu' ? 'cpu' : 'wasm';
  await ensureBackend(backend);
  if (backend === 'wasm') setFastPaths(variant === 'wasm' ? [] : [variant.slice('wasm-no-'.length) as FastPath]);
  try {
    await replayOnEngine(variant, job, events);
  } finally {
    if (backend === 'wasm') setFastPaths([]);
  }
}

/**
 * The python3 that runs the twin: the one given, else the first of $MNEXT_PYTHON, python3 on PATH and Debian's
 * /usr/bin/python3 (where python3-torch installs) that imports torch.
 */
function twinPython(python: string | undefined): string {
  if (python !== undefined) return python;
  const candidates = [process.env.MNEXT_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  return candidates.find((p) => spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0) ?? candidates[0];
}

/**
 * `python3 -m mnext_torch.replay OUT`: the twin trains on the same batches and writes out/twin/ (float32) or
 * out/reference/ (float64).
 */
export function runTwinReplay(out: string, dtype: 'float32' | 'float64', options: { python?: string; events?: TrainParityEvents } = {}): Promise<void> {
  const side = dtype === 'float32' ? 'twin' : 'reference';
  const python = twinPython(options.python);
  const env = { ...process.env, PYTHONPATH: [join(PACKAGE_ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(':') };
  return new Promise((done, fail) => {
    const child = spawn(python, ['-m', 'mnext_torch.replay', out, '--dtype', dtype], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const lines = stderr.split('\n');
      stderr = lines.pop()!;
      for (const line of lines) {
        const step = /^step (\d+)\/(\d+) loss (\S+)$/.exec(line);
        if (step) options.events?.onStep?.(side, Number(step[1]), Number(step[2]), Number(step[3]));
        else if (line.trim() !== '') options.events?.log?.(`${side}: ${line}`);
      }
    });
    child.on('error', (error) => fail(new UsageError(`--python: cannot run ${python} (${error.message}); it needs torch and torchvision`)));
    child.on('close', (code) => {
      if (code === 0) done();
      else fail(new InputError(`the PyTorch twin (${python} -m mnext_torch.replay ${out} --dtype ${dtype}) failed with exit code ${code}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

interface Side {
  readonly losses: number[];
  readonly lrs: number[];
  readonly seconds: number;
  readonly threads?: number;
  readonly state: StateDict;
}

function readSide(dir: string): Side {
  const recorded = JSON.parse(readFileSync(join(dir, 'losses.json'), 'utf8')) as { loss: number[]; lr: number[]; seconds: number; threads?: number };
  return { losses: recorded.loss, lrs: recorded.lr, seconds: recorded.seconds, threads: recorded.threads, state: readNpz(join(dir, 'state.npz')) };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function differenceFromWasm(side: Side, wasm: Side): DifferenceFromWasm {
  const diffs: number[] = [];
  let tensors = 0;
  for (const [key, value] of wasm.state) {
    const mine = side.state.get(key);
    if (!mine) continue;
    tensors += 1;
    if (!sameBits(mine.data, value.data)) diffs.push(relativeDiff(mine.data, value.data));
  }
  const sameLosses = side.losses.every((l, i) => Object.is(l, wasm.losses[i]));
  return {
    maxLossDiff: Math.max(...side.losses.map((l, i) => Math.abs(l - wasm.losses[i]))), tensors, differing: diffs.length,
    medianRelativeDiff: diffs.length === 0 ? 0 : median(diffs), identical: sameLosses && diffs.length === 0,
  };
}

/** Which comparison group a tensor of the end state belongs to. */
function groupOf(key: string, kinds: Map<string, string>): string {
  const [section, ...rest] = key.split('/');
  const name = rest.join('/');
  if (section !== 'model') return section;
  if (name.endsWith('.running_mean')) return 'bn running_mean';
  if (name.endsWith('.running_var')) return 'bn running_var';
  const kind = kinds.get(name);
  if (kind === undefined || kind === 'vector') return name.endsWith('.weight') ? 'bn weight' : 'bias';
  return `${kind} weight`;
}

function norm(values: Float32Array): number {
  let s = 0;
  for (const v of values) s += v * v;
  return Math.sqrt(s);
}

function relativeDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 1) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s) / Math.max(norm(b), 1e-12);
}

/** Relative difference per tensor, summarised per group (num_batches_tracked and friends are not compared). */
export function compareStates(ours: StateDict, twin: StateDict, graph: ModelGraph): TensorGroupDrift[] {
  const kinds = weightKinds(graph);
  const groups = new Map<string, { name: string; diff: number; normChange: number }[]>();
  for (const [key, reference] of twin) {
    const mine = ours.get(key);
    if (!mine) continue;
    if (mine.data.length !== reference.data.length) throw new InputError(`${key}: ${mine.data.length} values on mnext's side, ${reference.data.length} on the twin's`);
    const group = groupOf(key, kinds);
    if (!groups.has(group)) groups.set(group, []);
    const referenceNorm = Math.max(norm(reference.data), 1e-12);
    groups.get(group)!.push({ name: key, diff: relativeDiff(mine.data, reference.data), normChange: (norm(mine.data) - referenceNorm) / referenceNorm });
  }
  return [...groups].map(([group, entries]) => {
    const worst = entries.reduce((a, b) => (b.diff > a.diff ? b : a));
    return {
      group, tensors: entries.length, median: median(entries.map((e) => e.diff)), max: worst.diff, worst: worst.name,
      normChange: median(entries.map((e) => e.normChange)),
    };
  });
}

function windowMeans(diffs: number[], window: number): number[] {
  const means: number[] = [];
  for (let i = 0; i < diffs.length; i += window) {
    const slice = diffs.slice(i, i + window);
    means.push(slice.reduce((a, b) => a + b, 0) / slice.length);
  }
  return means;
}

/**
 * Where a variant's drift from the reference exceeds `factor` × PyTorch float32's (plus the floor): the mean
 * |Δloss| over the run and each tensor group's median relative difference. Per-window means are reported, not
 * judged: once trajectories decorrelate (tens of steps at the recipes' learning rates) a single window of either
 * side is as noisy as two batches' losses.
 */
function outsideBound(variant: VariantParity, yardstick: VariantParity, factor: number): string[] {
  const found: string[] = [];
  const mean = (v: VariantParity) => v.lossDiff.reduce((a, b) => a + b, 0) / v.lossDiff.length;
  const lossBound = factor * mean(yardstick) + FLOOR.loss;
  if (mean(variant) > lossBound) found.push(`mean |Δloss| ${mean(variant).toExponential(2)} > ${lossBound.toExponential(2)}`);
  for (const group of variant.groups) {
    const own = yardstick.groups.find((g) => g.group === group.group);
    if (!own) continue;
    const bound = factor * own.median + FLOOR.relative;
    if (group.median > bound) found.push(`${group.group}: median relative difference ${group.median.toExponential(2)} > ${bound.toExponential(2)}`);
  }
  return found;
}

/**
 * Trains the recipe (a YAML file, a bundled recipe's name or the keys, as train() takes) for `options.steps`
 * steps in every variant and in the twin on the same batches and compares them (see the file comment).
 */
export async function trainParity(recipe: string | Partial<TrainConfig>, options: TrainParityOptions): Promise<TrainParityReport> {
  const events = options.events ?? {};
  const config = parityConfig(typeof recipe === 'string'
    ? resolveConfig({ file: findConfigFile(recipe), flags: options.overrides })
    : resolveConfig({ flags: { ...recipe, ...options.overrides } }));
  const variants = options.variants ?? ['wasm'];
  for (const v of variants) if (!PARITY_VARIANTS.includes(v)) throw new UsageError(`--variants: expected some of ${PARITY_VARIANTS.join(', ')}, got '${v}'`);
  const out = resolve(options.out);
  checkOutFolder(out);
  const train = openDataset(config.data, 'train');
  const numClasses = config.num_classes ?? train.classes.length;
  const graph = buildGraph(modelSpecFor(config, numClasses));
  setThreads(config.threads || undefined);
  await ensureBackend(variants[0] === 'cpu' ? 'cpu' : 'wasm');
  const init = (await initialWeights(config, graph, train.classes)).weights;
  writeFileSync(join(out, 'args.yaml'), configToYaml({ ...config, num_classes: numClasses }));
  saveTorchStateDict(join(out, 'init.pth'), graph, init);
  const batches = options.batches
    ? openBatches(resolve(options.batches), config, options.steps)
    : await recordBatches(config, options.steps, join(out, 'batches'), events);
  const meta: ParityMeta = {
    model: config.model, steps: batches.steps, stepsPerEpoch: batches.stepsPerEpoch, batchSize: batches.batchSize, imageSize: config.img_size,
    batches: batches.dir, batchesFrom: batches.source,
  };
  writeFileSync(join(out, 'parity.json'), `${JSON.stringify(meta)}\n`);
  events.log?.(`batches: ${batches.steps} of ${batches.batchSize} from ${batches.source} (${batches.dir})`);
  const job: ReplayJob = { config, numClasses, init, batches, out };
  for (const variant of variants) await trainVariant(variant, job, events);
  if (options.twin === false) {
    return { out, model: config.model, steps: batches.steps, batchSize: batches.batchSize, imageSize: config.img_size, batchesFrom: batches.source,
      referenceLosses: [], window: 0, factor: 0, variants: [] };
  }
  await runTwinReplay(out, 'float32', options);
  await runTwinReplay(out, 'float64', options);
  return compareParity(out, graph, options);
}

/** One side's drift from the reference, and from PyTorch float32 for the loss. */
function sideParity(side: ParityVariant | 'twin', ours: Side, reference: Side, twin: Side, graph: ModelGraph, window: number): VariantParity {
  const lossDiff = ours.losses.map((l, i) => Math.abs(l - reference.losses[i]));
  return {
    variant: side, seconds: ours.seconds, threads: ours.threads, losses: ours.losses, lossDiff, maxLossDiff: Math.max(...lossDiff), windows: windowMeans(lossDiff, window),
    maxLossDiffToTwin: Math.max(...ours.losses.map((l, i) => Math.abs(l - twin.losses[i]))),
    maxLrDiff: Math.max(...ours.lrs.map((lr, i) => Math.abs(lr - reference.lrs[i]))), groups: compareStates(ours.state, reference.state, graph),
  };
}

/**
 * The report of a harness folder whose sides have all run: after `--no-twin` and the twin's two replays by hand
 * (`python3 -m mnext_torch.replay OUT`, then with `--dtype float64`), or again with another factor or window.
 */
export function reportParity(out: string, options: Pick<TrainParityOptions, 'factor' | 'window'> = {}): TrainParityReport {
  const folder = resolve(out);
  for (const file of ['args.yaml', 'parity.json', 'twin/losses.json', 'reference/losses.json']) {
    if (!existsSync(join(folder, file))) throw new InputError(`${folder} has no ${file}: not a parity-train folder whose twin has run`);
  }
  const config = resolveConfig({ file: join(folder, 'args.yaml') });
  return compareParity(folder, buildGraph(modelSpecFor(config, config.num_classes ?? 1000)), options);
}

/** The report of a harness folder whose sides have run. */
function compareParity(out: string, graph: ModelGraph, options: Pick<TrainParityOptions, 'factor' | 'window'> = {}): TrainParityReport {
  const reference = readSide(join(out, 'reference'));
  const twin = readSide(join(out, 'twin'));
  const meta = JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8')) as ParityMeta;
  const factor = options.factor ?? DEFAULT_PARITY_FACTOR;
  const window = options.window ?? Math.max(1, Math.round(meta.steps / 10));
  const yardstick = sideParity('twin', twin, reference, twin, graph, window);
  const found = PARITY_VARIANTS.filter((v) => existsSync(join(out, v, 'losses.json')));
  const wasm = found.includes('wasm') ? readSide(join(out, 'wasm')) : undefined;
  const variants = found.map((v) => {
    const ours = v === 'wasm' && wasm ? wasm : readSide(join(out, v));
    const parity = sideParity(v, ours, reference, twin, graph, window);
    const fromWasm = wasm && v !== 'wasm' ? differenceFromWasm(ours, wasm) : undefined;
    return { ...parity, outside: outsideBound(parity, yardstick, factor), ...(fromWasm && { fromWasm }) };
  });
  return {
    out, model: meta.model, steps: meta.steps, batchSize: meta.batchSize, imageSize: meta.imageSize, batchesFrom: meta.batchesFrom,
    referenceLosses: reference.losses, window, factor, twin: yardstick, variants, pass: variants.every((v) => v.outside.length === 0),
  };
}
