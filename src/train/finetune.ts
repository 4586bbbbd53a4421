/**
 * Fine-tuning, as timm's --initial-checkpoint: a fresh run starts from a checkpoint folder's or a PyTorch file's
 * weights (the EMA's with use_ema) instead of the seeded init. A classifier for other classes — another count,
 * or other names when the checkpoint records them — is re-initialised as the run's own init would make it; any
 * other missing, extra or mis-shaped key is an error that lists them. --freeze-backbone then trains the
 * classifier only.
 */
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { type ModelSource, loadModelSource } from '../io/model-source.js';
import { type ModelGraph, classifierOf } from '../models/graph.js';
import type { StateDict } from '../models/state-dict.js';
import { classifierClasses, initStateDict, selectModelWeights } from '../models/weights.js';
import type { TrainConfig } from './config.js';

export interface InitialWeights {
  readonly weights: StateDict;
  /** Set when the checkpoint's classifier was for other classes and was re-initialised. */
  readonly reinitialised?: {
    readonly from: number;
    readonly to: number;
    /** The checkpoint's class names when the count was the same but the names were not. */
    readonly otherNames?: readonly string[];
  };
}

/** The state_dict prefix of the model's classifier (every family ends in one linear layer). */
function classifierParam(graph: ModelGraph): string {
  const classifier = classifierOf(graph);
  if (!classifier) throw new Error(`${graph.spec.arch} has no linear classifier`);
  return classifier.param;
}

/** The state_dict keys --freeze-backbone keeps as loaded: everything but the classifier. */
export function backboneParams(graph: ModelGraph): string[] {
  const head = `${classifierParam(graph)}.`;
  return graph.params.map((p) => p.name).filter((name) => !name.startsWith(head));
}

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((name, i) => name === b[i]);

/** The loaded weights with their classifier replaced by the run's own init when it was made for other classes. */
function fitClassifier(graph: ModelGraph, source: ModelSource, classes: readonly string[], fresh: StateDict): InitialWeights {
  const head = classifierParam(graph);
  const headKeys = [`${head}.weight`, `${head}.bias`];
  const loadedClasses = classifierClasses(graph, source.weights);
  const { numClasses } = graph.spec;
  const otherNames = source.classes !== undefined && !sameNames(source.classes, classes);
  const what = `the weights of ${source.origin}`;
  if (loadedClasses === undefined || (loadedClasses === numClasses && !otherNames)) return { weights: selectModelWeights(graph, source.weights, what) };
  const weights = new Map(source.weights);
  for (const key of headKeys) weights.set(key, fresh.get(key)!);
  const reinitialised = { from: loadedClasses, to: numClasses, otherNames: loadedClasses === numClasses ? source.classes : undefined };
  return { weights: selectModelWeights(graph, weights, what), reinitialised };
}

/**
 * A fresh run's weights: the seeded init, or initial_checkpoint's weights with the classifier fitted to the
 * run's `classes` (the dataset's, in label order).
 */
export async function initialWeights(config: TrainConfig, graph: ModelGraph, classes: readonly string[]): Promise<InitialWeights> {
  const fresh = initStateDict(graph, config.seed);
  const path = config.initial_checkpoint;
  if (path === '') return { weights: fresh };
  // loadModelSource would read a missing path as a model name and hand back fresh weights.
  if (!existsSync(path)) throw new UsageError(`initial_checkpoint: ${path} does not exist`);
  const { spec } = graph;
  const source = await loadModelSource(path, {
    arch: spec.arch, width: spec.width, inputSize: spec.inputSize, tensorMultiplier: spec.tensorMultiplier, useEma: config.use_ema,
  });
  // The one architecture setting that leaves every shape as it is.
  if (source.spec.tensorMultiplier !== spec.tensorMultiplier) {
    throw new UsageError(`initial_checkpoint: ${path} has tensor_multiplier ${source.spec.tensorMultiplier}, the run's model ${spec.tensorMultiplier}`);
  }
  return fitClassifier(graph, source, classes, fresh);
}
