/**
 * The training loop of timm's train.py for one process: per epoch, train over the shuffled, augmented batches
 * (label-smoothed CE, optimiser step, BN running stats, model EMA after every step), validate the raw and the
 * EMA model, append a summary row, save last/ (and best/ when the reported metric improved), redraw the curves.
 * Every random choice is a function of (seed, epoch, step), so a resumed run repeats an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, statSync, statfsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CheckFailedError, InputError, InterruptedError, InvalidModelError, UsageError } from '../errors.js';
import { checkSplitClasses, openDataset, type ImageDataset } from '../data/dataset.js';
import { type ImageBatch, ImageLoader } from '../data/loader.js';
import { mixupBatch, normalizeBatch, randomErasing } from '../data/batch-ops.js';
import { mixSeed } from '../data/seed.js';
import { generateSyntheticDataset } from '../data/synthetic.js';
import { writeFileAtomic } from '../util/atomic.js';
import { CHECKPOINT_FOLDER } from '../io/checkpoint.js';
import { type OutputOptions, checkOutputPath, createNewFolder, removeOwnOutput, writeOutputFile } from '../util/output-path.js';
import { type StateDict, sizeOf } from '../models/state-dict.js';
import { TfjsModel } from '../models/executor.js';
import type { ModelGraph, ModelSpec } from '../models/graph.js';
import { buildGraph, resolveModelSpec } from '../models/registry.js';
import { backendThreads } from '../backend/index.js';
import { Rng } from '../util/random.js';
import { type PickedArrangement, fastestArrangement } from './arrangement.js';
import { ARGS_YAML, type TrainConfig, configToYaml, evalInterpolation } from './config.js';
import { ModelEma } from './ema.js';
import { type EvalMetrics, evaluateModels } from './evaluate.js';
import { type OptimizerOptions, createOptimizer } from './optim.js';
import { type ScheduleOptions, stepLearningRate, totalEpochs } from './scheduler.js';
import { type TrainState, type TrainingCheckpoint, loadTrainingCheckpoint, saveTrainingCheckpoint } from './checkpoints.js';
import { backboneParams, initialWeights } from './finetune.js';
import { checkRunClasses, continuedConfig } from './resume.js';
import { computeGradients, disposeGradientResult } from './step.js';
import { ParallelTrainer } from './parallel/trainer.js';
import { type SummaryRow, checkRecordPaths, writeCurves, writeSummary } from './summary.js';

export interface BatchProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

/** Hooks the CLI uses for progress bars and messages; the library itself prints nothing. */
export interface TrainEvents {
  log?(message: string): void;
  /** When the run picks its arrangement (TrainOptions.pickArrangement): the one it trains with and the probes' times. */
  onArrangement?(arrangement: PickedArrangement): void;
  onEpochStart?(epoch: number, epochs: number, steps: number): void;
  onBatch?(progress: BatchProgress): void;
  onEvalStart?(epoch: number, batches: number): void;
  onEvalBatch?(done: number, total: number): void;
  onEpochEnd?(row: SummaryRow, info: { isBest: boolean; emaUsed: boolean; raw: EvalMetrics; epochs: number }): void;
}

/** `force`: replace files and folders in a resumed run's folder that mnext did not write (util/output-path.ts). */
export interface TrainOptions extends OutputOptions {
  readonly events?: TrainEvents;
  /** Aborting stops after the current step, saves recovery/ and throws InterruptedError. */
  readonly signal?: AbortSignal;
  /** Stop after this many epochs of this invocation (tests use it to simulate a kill after epoch k). */
  readonly stopAfterEpochs?: number;
  /**
   * A fresh run times the arrangements of the machine's cores on its own model and batch (arrangement.ts) and
   * trains with the fastest, recording it as `replicas` and `threads`; the main engine must run on every core.
   */
  readonly pickArrangement?: boolean;
}

export interface TrainResult {
  runDir: string;
  rows: SummaryRow[];
  best: { epoch: number; top1: number } | null;
  lastDir: string;
  bestDir: string;
  curves: string;
  summary: string;
  /** Epochs trained by this invocation. */
  epochsRun: number;
  /** How the steps ran (threads: each engine's), and the probes' times when the run picked it; absent when nothing was trained. */
  arrangement?: PickedArrangement;
}

interface Data {
  train: ImageDataset;
  val: ImageDataset;
}

async function prepareData(config: TrainConfig, events: TrainEvents, resuming: boolean): Promise<Data> {
  if (config.data === '') throw new UsageError('data: expected a dataset folder (--data DIR or `data:` in the config)');
  if (!existsSync(config.data)) {
    if (!config.synthetic) throw new InputError(`dataset ${config.data} does not exist${resuming ? ' (the run\'s data: --data DIR if it moved)' : ''}`);
    const classes = config.num_classes ?? 10;
    events.log?.(`Dataset ${config.data} is missing: generating a synthetic one (${classes} classes, ${config.synthetic_per_class} training images each, ${config.synthetic_size}x${config.synthetic_size})...`);
    await generateSyntheticDataset(config.data, { classes, perClass: config.synthetic_per_class, size: config.synthetic_size, seed: config.seed });
  }
  const train = openDataset(config.data, 'train');
  const val = openDataset(config.data, 'val');
  checkSplitClasses(train, val);
  return { train, val };
}

/** The model the config asks for; an unknown name is a "not available" usage error, never a silent substitute. */
export function modelSpecFor(config: TrainConfig, numClasses: number): ModelSpec {
  try {
    return resolveModelSpec(config.model, {
      width: config.width ?? undefined,
      numClasses,
      inputSize: config.img_size,
      tensorMultiplier: config.tensor_multiplier,
      dropRate: config.drop ?? undefined,
      dropConnectRate: config.drop_connect ?? undefined,
    });
  } catch (error) {
    if (error instanceof InvalidModelError && error.message.startsWith('unknown model')) {
      throw new UsageError(`model '${config.model}' is not available in this build: ${error.message}`);
    }
    throw error;
  }
}

export function scheduleOf(config: TrainConfig): ScheduleOptions {
  return {
    sched: config.sched, lr: config.lr, epochs: config.epochs, warmupEpochs: config.warmup_epochs, warmupLr: config.warmup_lr,
    minLr: config.min_lr, decayEpochs: config.decay_epochs, decayRate: config.decay_rate, cooldownEpochs: config.cooldown_epochs,
  };
}

function runDirName(config: TrainConfig, now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  return `${date}-${config.model}-${config.img_size}`;
}

/**
 * A new run directory under `output` (never an existing folder: a taken name gets a -1, -2... suffix), checked
 * roomy enough before any training starts.
 */
function createRunDir(config: TrainConfig, bytesPerCheckpoint: number): string {
  const base = resolve(config.output);
  if (existsSync(base) && !statSync(base).isDirectory()) throw new UsageError(`output: cannot write to ${base} (it is a file, not a folder)`);
  let dir: string;
  try {
    dir = createNewFolder(join(base, runDirName(config)));
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new UsageError(`output: cannot write to ${base} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  checkFreeSpace(dir, bytesPerCheckpoint);
  return dir;
}

/** last/, best/ and a temp copy during the atomic swap: three checkpoints must fit. */
function checkFreeSpace(dir: string, bytesPerCheckpoint: number): void {
  const stats = statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  const needed = 3 * bytesPerCheckpoint;
  if (free < needed) {
    throw new UsageError(`output: ${dir} has ${(free / 1e6).toFixed(1)} MB free, checkpoints need about ${(needed / 1e6).toFixed(1)} MB`);
  }
}

/**
 * The batch as the model sees it in training: normalised, random erasing per image (timm applies it after
 * normalisation), and mixup's mixed inputs with soft targets that already carry the label smoothing. Every
 * random draw comes from a per-step stream, so a resumed run repeats it exactly.
 */
function trainingBatch(batch: ImageBatch, config: TrainConfig, numClasses: number, rng: Rng): { x: tf.Tensor4D; targets: tf.Tensor2D; smoothing: number } {
  let x = normalizeBatch(batch, config.mean, config.std);
  if (config.reprob > 0) {
    const erased = randomErasing(x, { probability: config.reprob, mode: config.remode }, rng);
    x.dispose();
    x = erased;
  }
  if (config.mixup > 0) {
    const mixed = mixupBatch(x, batch.labels, numClasses, config.mixup, config.smoothing, rng);
    x.dispose();
    return { x: mixed.x, targets: mixed.targets, smoothing: lossSmoothing(config) };
  }
  const targets = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), numClasses), 'float32') as tf.Tensor2D);
  return { x, targets, smoothing: lossSmoothing(config) };
}

/** The loss's label smoothing: none with mixup, whose soft targets already carry it. */
function lossSmoothing(config: TrainConfig): number {
  return config.mixup > 0 ? 0 : config.smoothing;
}

/**
 * Where the optimiser steps run: the main thread's engine, or `replicas` data-parallel workers (ParallelTrainer),
 * whose rank 0 the main thread's model copies from the shared buffers when it is needed (EMA, eval, saving).
 */
type Updater =
  | { readonly kind: 'main'; readonly optimizer: ReturnType<typeof createOptimizer> }
  | { readonly kind: 'replicas'; readonly trainer: ParallelTrainer; modelStale: boolean };

interface Session {
  config: TrainConfig;
  spec: ModelSpec;
  classes: string[];
  /** The model evaluated, saved and followed by the EMA: with replicas, a copy of rank 0 (see `syncModel`). */
  model: TfjsModel;
  ema?: ModelEma;
  updater: Updater;
  /** How the updater's steps run (threads: each engine's), with the probes' times when the run picked it. */
  arrangement: PickedArrangement;
  state: TrainState;
  runDir: string;
  trainLoader: ImageLoader;
  valLoader: ImageLoader;
}

/** Brings the main thread's model to the replicas' state (rank 0's, as DDP saves) if a step moved them. */
function syncModel(session: Session): void {
  const { updater } = session;
  if (updater.kind !== 'replicas' || !updater.modelStale) return;
  updater.trainer.copyRank0Into(session.model);
  updater.modelStale = false;
}

async function checkpointOf(session: Session): Promise<TrainingCheckpoint> {
  syncModel(session);
  const { updater } = session;
  return {
    spec: session.spec,
    weights: session.model.stateDict(),
    emaWeights: session.ema?.model.stateDict(),
    optimizer: updater.kind === 'main' ? updater.optimizer.stateDict() : await updater.trainer.optimizerStateDict(),
    classes: session.classes,
    mean: session.config.mean,
    std: session.config.std,
    cropPct: session.config.crop_pct,
    interpolation: evalInterpolation(session.config),
    state: structuredClone(session.state),
  };
}

function estimateCheckpointBytes(spec: ModelSpec, config: TrainConfig): number {
  const values = buildGraph(spec).params.reduce((s, p) => s + sizeOf(p.shape), 0);
  const copies = 1 + (config.model_ema ? 1 : 0) + (config.opt === 'sgd' || config.opt === 'nesterov' || config.opt === 'momentum' ? 1 : 2);
  return values * 4 * copies + 64 * 1024;
}

/** A run being continued: its newest checkpoint, where it lives, and the config it continues with. */
interface Resumed {
  readonly checkpoint: TrainingCheckpoint;
  readonly dir: string;
  readonly runDir: string;
  readonly config: TrainConfig;
}

function resumeRun(config: TrainConfig): Resumed {
  const loaded = loadTrainingCheckpoint(config.resume);
  return { ...loaded, config: continuedConfig(loaded.checkpoint.state.config, config) };
}

/** Why a resumed run has nothing left to train, or undefined when it has. */
function nothingLeft(resumed: Resumed): string | undefined {
  const { epoch } = resumed.checkpoint.state;
  const epochs = totalEpochs(scheduleOf(resumed.config));
  if (epoch < epochs) return undefined;
  if (epoch === epochs) return `finished at epoch ${epoch} of ${epochs}; pass --epochs N to continue`;
  return `at epoch ${epoch}, past the ${epochs} epochs asked for; pass --epochs N to continue`;
}

/** A fresh run's weights (initial_checkpoint's, when given), saying where they came from. */
async function startingWeights(config: TrainConfig, graph: ModelGraph, classes: readonly string[], events: TrainEvents): Promise<StateDict> {
  const initial = await initialWeights(config, graph, classes);
  if (config.initial_checkpoint) events.log?.(`initial weights: ${config.initial_checkpoint}${config.use_ema ? ' (EMA)' : ''}`);
  const reset = initial.reinitialised;
  if (reset) {
    const names = reset.otherNames ? ` (the checkpoint's are ${reset.otherNames.join(', ')})` : '';
    events.log?.(`classifier re-initialised: ${reset.from} → ${reset.to} classes${names}`);
  }
  return initial.weights;
}

/**
 * A resumed run's folder may hold files mnext did not write where it saves (a checkpoint copied into a folder of
 * one's own): refused before anything is written rather than after an epoch.
 */
function checkRunOutputs(runDir: string, output: OutputOptions): void {
  for (const name of ['last', 'best', 'recovery']) checkOutputPath(join(runDir, name), CHECKPOINT_FOLDER, output);
  checkOutputPath(join(runDir, 'args.yaml'), ARGS_YAML, output);
  checkRecordPaths(join(runDir, 'summary.csv'), join(runDir, 'curves.png'), output);
}

function loaderBase(config: TrainConfig) {
  return { batchSize: config.batch_size, imageSize: config.img_size, seed: config.seed, workers: config.workers };
}

/** The training batches of the recipe: shuffled per epoch, augmented, last partial batch dropped. */
export function trainLoaderOf(config: TrainConfig, dataset: ImageDataset, events: Pick<TrainEvents, 'log'>): ImageLoader {
  return new ImageLoader(dataset, {
    ...loaderBase(config), train: true, dropLast: true, scale: config.scale as [number, number], ratio: config.ratio as [number, number],
    interpolation: config.interpolation, hflip: config.hflip, colorJitter: config.color_jitter,
    onSkip: (skip) => events.log?.(`warning: skipping ${skip.path}: ${skip.reason}`),
  });
}

function optimizerOptionsOf(config: TrainConfig): OptimizerOptions {
  return { opt: config.opt, momentum: config.momentum, weightDecay: config.weight_decay, eps: config.opt_eps };
}

/** The fastest arrangement for this run's model, batch and optimiser (arrangement.ts), said through the events. */
async function pickArrangement(config: TrainConfig, model: TfjsModel, events: TrainEvents): Promise<PickedArrangement> {
  const picked = await fastestArrangement({
    graph: model.graph, batch: config.batch_size, optimizer: optimizerOptionsOf(config), smoothing: lossSmoothing(config),
    frozen: [...model.frozen], backend: config.backend || tf.getBackend(),
  });
  events.onArrangement?.(picked);
  return picked;
}

async function openSession(requested: TrainConfig, resumed: Resumed | undefined, events: TrainEvents, output: OutputOptions, pick = false): Promise<Session> {
  let config = requested;
  // Fail on an unavailable model before generating or reading any data.
  if (!resumed) modelSpecFor(config, config.num_classes ?? 1000);
  const data = await prepareData(config, events, resumed !== undefined);
  if (resumed) checkRunClasses(resumed.checkpoint.classes, data.train.classes, config.data);
  const numClasses = config.num_classes ?? data.train.classes.length;
  if (numClasses < data.train.classes.length) {
    throw new UsageError(`num_classes: expected at least the dataset's ${data.train.classes.length} classes, got ${numClasses}`);
  }
  const spec = resumed?.checkpoint.spec ?? modelSpecFor(config, numClasses);
  const graph = buildGraph(spec);
  const weights = resumed?.checkpoint.weights ?? await startingWeights(config, graph, data.train.classes, events);
  const model = new TfjsModel(graph, weights, { frozen: config.freeze_backbone ? backboneParams(graph) : [] });
  if (config.freeze_backbone) events.log?.(`backbone frozen: training ${model.trainableByName().size} classifier tensors, BN layers in eval mode`);
  const ema = config.model_ema ? new ModelEma(model, config.model_ema_decay, resumed?.checkpoint.emaWeights) : undefined;
  // Recorded as if given (args.yaml, checkpoints), so a resume or a rerun from args.yaml computes the same: replicas
  // compute BN statistics per shard.
  const picked = pick && !resumed ? await pickArrangement(config, model, events) : undefined;
  if (picked) config = { ...config, replicas: picked.replicas, threads: picked.threads };
  const trainLoader = trainLoaderOf(config, data.train, events);
  const valLoader = new ImageLoader(data.val, {
    ...loaderBase(config), train: false, dropLast: false, cropPct: config.crop_pct,
    interpolation: evalInterpolation(config),
  });
  const runDir = resumed ? resumed.runDir : createRunDir(config, estimateCheckpointBytes(spec, config));
  if (resumed) {
    events.log?.(`Resuming ${resumed.dir} at epoch ${resumed.checkpoint.state.epoch}, step ${resumed.checkpoint.state.stepsDone}`);
  } else {
    writeFileAtomic(join(runDir, 'classes.txt'), `${data.train.classes.join('\n')}\n`);
  }
  const state: TrainState = resumed ? { ...resumed.checkpoint.state, config } : {
    epoch: 0, stepsDone: 0, stepsPerEpoch: trainLoader.batchesPerEpoch, lossSum: 0, correct: 0, images: 0, rows: [], best: null,
    rngSeed: config.seed, scheduler: { sched: config.sched, lr: config.lr }, config,
  };
  if (state.stepsPerEpoch !== trainLoader.batchesPerEpoch) {
    throw new InputError(`resume: the dataset now gives ${trainLoader.batchesPerEpoch} batches per epoch, the run had ${state.stepsPerEpoch}`);
  }
  // Before anything is written into a resumed run's folder: it may hold files mnext did not write.
  checkRunOutputs(runDir, output);
  // A resumed run's args.yaml and checkpoints record what it now continues with (a longer schedule, moved data).
  writeOutputFile(join(runDir, 'args.yaml'), ARGS_YAML, configToYaml(config), output);
  // Last, so that nothing after it can fail with the workers running (train() closes them in its finally).
  const updater = await createUpdater(config, model, resumed?.checkpoint.optimizer);
  const arrangement = { replicas: config.replicas, threads: updater.kind === 'main' ? backendThreads() : updater.trainer.threads, probed: picked?.probed ?? [] };
  return { config, spec, classes: data.train.classes, model, ema, updater, arrangement, state, runDir, trainLoader, valLoader };
}

async function createUpdater(config: TrainConfig, model: TfjsModel, optimizerState: StateDict | undefined): Promise<Updater> {
  const optimizerOptions = optimizerOptionsOf(config);
  if (config.replicas === 1) {
    const optimizer = createOptimizer(model, optimizerOptions);
    if (optimizerState) optimizer.loadStateDict(optimizerState);
    return { kind: 'main', optimizer };
  }
  const trainer = await ParallelTrainer.start({
    workers: config.replicas, threads: config.threads || undefined, backend: config.backend || tf.getBackend(), graph: model.graph, weights: model.stateDict(),
    optimizer: optimizerOptions, optimizerState, smoothing: lossSmoothing(config), frozen: [...model.frozen],
  });
  return { kind: 'replicas', trainer, modelStale: false };
}

function disposeUpdater(updater: Updater): Promise<void> {
  if (updater.kind === 'main') {
    updater.optimizer.dispose();
    return Promise.resolve();
  }
  return updater.trainer.close();
}

/** Moves the state to the start of the next epoch once the current one is complete. */
function nextEpoch(state: TrainState): void {
  state.epoch += 1;
  state.stepsDone = 0;
  state.lossSum = 0;
  state.correct = 0;
  state.images = 0;
}

interface StepInput {
  readonly x: tf.Tensor4D;
  readonly targets: tf.Tensor2D;
  readonly smoothing: number;
  readonly seed: number;
  readonly lr: number;
  readonly epoch: number;
  readonly step: number;
}

function divergedError(session: Session, loss: number, input: StepInput): CheckFailedError {
  return new CheckFailedError(
    `training diverged: the loss is ${loss} at epoch ${input.epoch}, step ${input.step} (lr ${input.lr.toPrecision(4)}); ` +
    `the last good checkpoint is ${join(session.runDir, 'last')} — lower lr or check the data`,
  );
}

/**
 * One optimiser step (gradients, update, BN running statistics) wherever the session's steps run. A non-finite
 * loss stops the run: on the main thread before the update; the replicas have already applied it, but nothing
 * is saved after a divergence, so the last good checkpoint stays what it was.
 */
async function optimizerStep(session: Session, input: StepInput): Promise<{ loss: number; correct: number }> {
  const { updater, model } = session;
  if (updater.kind === 'replicas') {
    const result = await updater.trainer.step(input.x.dataSync() as Float32Array, input.x.shape, input.targets.dataSync() as Float32Array, input.lr, input.seed);
    updater.modelStale = true;
    if (!Number.isFinite(result.loss)) throw divergedError(session, result.loss, input);
    return result;
  }
  const result = computeGradients(model, input.x, input.targets, { smoothing: input.smoothing, seed: input.seed });
  if (!Number.isFinite(result.loss)) {
    disposeGradientResult(result);
    throw divergedError(session, result.loss, input);
  }
  updater.optimizer.apply(result.grads, input.lr);
  model.updateRunningStats(result.batchStats);
  disposeGradientResult(result);
  return result;
}

async function trainEpoch(session: Session, events: TrainEvents, epochs: number, signal: AbortSignal | undefined, output: OutputOptions): Promise<{ imagesPerSecond: number; lr: number }> {
  const { config, model, ema, state, trainLoader } = session;
  const schedule = scheduleOf(config);
  const steps = trainLoader.batchesPerEpoch;
  const epoch = state.epoch;
  const skip = state.stepsDone;
  let step = 0;
  let lr = stepLearningRate(schedule, epoch, skip, steps, config.sched_on_updates);
  let timedImages = 0;
  const started = performance.now();
  events.onEpochStart?.(epoch, epochs, steps);
  for await (const batch of trainLoader.epoch(epoch)) {
    // A recovery checkpoint resumes mid-epoch: the same batches are produced and the trained ones skipped.
    if (step < skip) { step += 1; continue; }
    lr = stepLearningRate(schedule, epoch, step, steps, config.sched_on_updates);
    const n = batch.labels.length;
    const augmentRng = new Rng(mixSeed(state.rngSeed, epoch, step, 0xe7a));
    const { x, targets, smoothing } = trainingBatch(batch, config, session.spec.numClasses, augmentRng);
    let result: { loss: number; correct: number };
    try {
      result = await optimizerStep(session, { x, targets, smoothing, seed: mixSeed(state.rngSeed, epoch, step, 0xd50), lr, epoch, step });
    } finally {
      x.dispose();
      targets.dispose();
    }
    if (ema) {
      syncModel(session);
      ema.update(model);
    }
    state.lossSum += result.loss * n;
    state.correct += result.correct;
    state.images += n;
    step += 1;
    state.stepsDone = step;
    timedImages += n;
    const imagesPerSecond = timedImages / ((performance.now() - started) / 1000);
    events.onBatch?.({ epoch, epochs, step, steps, loss: result.loss, lr, imagesPerSecond });
    if (signal?.aborted && step < steps) {
      saveTrainingCheckpoint(join(session.runDir, 'recovery'), await checkpointOf(session), undefined, output);
      throw new InterruptedError(`interrupted at epoch ${epoch}, step ${step}/${steps}; saved ${join(session.runDir, 'recovery')} (continue with --resume ${session.runDir})`);
    }
  }
  return { imagesPerSecond: timedImages / ((performance.now() - started) / 1000), lr };
}

function resultOf(runDir: string, state: TrainState, epochsRun: number): TrainResult {
  return {
    runDir, rows: state.rows, best: state.best, lastDir: join(runDir, 'last'), bestDir: join(runDir, 'best'),
    curves: join(runDir, 'curves.png'), summary: join(runDir, 'summary.csv'), epochsRun,
  };
}

/**
 * Trains per the config and returns where everything was written. A fresh run starts from the seeded init or
 * initial_checkpoint; with `resume`, the run continues where it stopped (see resume.ts for what may change).
 */
export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const events = options.events ?? {};
  const resumed = config.resume ? resumeRun(config) : undefined;
  const done = resumed && nothingLeft(resumed);
  if (resumed && done) {
    events.log?.(done);
    return resultOf(resumed.runDir, resumed.checkpoint.state, 0);
  }
  const fresh = { ...config, initial_checkpoint: config.initial_checkpoint && resolve(config.initial_checkpoint) };
  const output = { force: options.force };
  const session = await openSession(resumed?.config ?? fresh, resumed, events, output, options.pickArrangement);
  const { state, runDir } = session;
  const epochs = totalEpochs(scheduleOf(session.config));
  const { summary, curves } = resultOf(runDir, state, 0);
  let ran = 0;
  try {
    while (state.epoch < epochs && (options.stopAfterEpochs === undefined || ran < options.stopAfterEpochs)) {
      const { imagesPerSecond, lr } = await trainEpoch(session, events, epochs, options.signal, output);
      syncModel(session);
      events.onEvalStart?.(state.epoch, session.valLoader.batchesPerEpoch);
      const evaluated = [session.model, ...(session.ema ? [session.ema.model] : [])];
      const metrics = await evaluateModels(evaluated, session.valLoader, (b) => normalizeBatch(b, session.config.mean, session.config.std), events.onEvalBatch);
      // As in the official runs, the EMA's metrics are the reported ones when the EMA is on.
      const reported = metrics[metrics.length - 1];
      const row: SummaryRow = {
        epoch: state.epoch, train_loss: state.lossSum / Math.max(1, state.images), eval_loss: reported.loss, eval_top1: reported.top1,
        eval_top5: reported.top5, lr, img_per_sec: imagesPerSecond, train_top1: (100 * state.correct) / Math.max(1, state.images),
      };
      state.rows.push(row);
      const isBest = state.best === null || reported.top1 > state.best.top1;
      if (isBest) state.best = { epoch: row.epoch, top1: reported.top1 };
      state.scheduler = { sched: session.config.sched, lr };
      // Saved at the start of the next epoch, so resuming from last/ simply continues.
      nextEpoch(state);
      const completed = await checkpointOf(session);
      const metric = { epoch: row.epoch, top1: reported.top1, top5: reported.top5, loss: reported.loss };
      saveTrainingCheckpoint(join(runDir, 'last'), completed, metric, output);
      if (isBest) saveTrainingCheckpoint(join(runDir, 'best'), completed, metric, output);
      removeOwnOutput(join(runDir, 'recovery'), CHECKPOINT_FOLDER);
      writeSummary(summary, state.rows, output);
      await writeCurves(curves, state.rows, `${session.config.model} ${session.config.img_size}px, ${basename(runDir)}`, output);
      events.onEpochEnd?.(row, { isBest, emaUsed: session.ema !== undefined, raw: metrics[0], epochs });
      ran += 1;
      if (options.signal?.aborted) {
        throw new InterruptedError(`interrupted after epoch ${row.epoch}; saved ${join(runDir, 'last')} (continue with --resume ${runDir})`);
      }
    }
  } finally {
    session.model.dispose();
    session.ema?.dispose();
    await disposeUpdater(session.updater);
  }
  // The state as trained (its best moved with the epochs).
  return { ...resultOf(runDir, state, ran), arrangement: session.arrangement };
}
