/**
 * `mnext export --to pytorch` of a training run: the weights as a PyTorch state_dict (io/torch/export.ts) and, beside
 * them, the run's resolved recipe, so that the PyTorch twin continues from where mnext stopped:
 *   PYTHONPATH=python torchrun --nproc_per_node=N -m mnext_torch.train --config model.yaml --initial-checkpoint model.pth
 */
import { join } from 'node:path';
import { isCheckpointDir } from '../io/checkpoint.js';
import { type ExportSummary, exportCheckpoint } from '../io/torch/export.js';
import type { ModelSpec } from '../models/graph.js';
import { type FileOutputKind, type OutputOptions, checkOutputPath, readFirstLine, writeOutputFile } from '../util/output-path.js';
import { type TrainConfig, configToYaml } from './config.js';
import { readTrainState } from './run-state.js';

export interface RunExportSummary extends ExportSummary {
  /** The recipe written beside the weights; absent when the model is not a checkpoint of an mnext train run. */
  recipe?: string;
}

type ExportedModel = Pick<ModelSpec, 'arch' | 'width' | 'numClasses' | 'tensorMultiplier'>;

/** The recipe's first line: how a later export knows the file as its own (a recipe of one's own has no such line). */
const RECIPE_SIGNATURE = '# mnext export --to pytorch: the recipe of ';

export const RECIPE_YAML: FileOutputKind = {
  type: 'file', description: 'training recipe (YAML)', recognise: (path) => readFirstLine(path).startsWith(RECIPE_SIGNATURE),
};

/** `model.pth` → `model.yaml`. */
export function recipePathFor(out: string): string {
  return `${out.replace(/\.(pth\.tar|pth|pt)$/i, '')}.yaml`;
}

/** A run directory stands for its best checkpoint, as the run's summary names it. */
function checkpointOf(model: string): string {
  const best = join(model, 'best');
  return !isCheckpointDir(model) && isCheckpointDir(best) ? best : model;
}

/**
 * The run's config as a fresh recipe for the exported weights: the model they are (architecture, width, classes,
 * tensor multiplier), no resume, no initial checkpoint (given beside it on the command line), and nothing of mnext's
 * own engine (replicas, backend, a frozen backbone), which the twin refuses.
 */
export function continuationRecipe(config: TrainConfig, spec: ExportedModel): TrainConfig {
  return {
    ...config, model: spec.arch, width: spec.width, num_classes: spec.numClasses, tensor_multiplier: spec.tensorMultiplier,
    resume: '', initial_checkpoint: '', use_ema: false, freeze_backbone: false, replicas: 1, backend: '',
  };
}

function recipeText(config: TrainConfig, spec: ExportedModel, source: string, out: string, ema: boolean): string {
  return [
    `${RECIPE_SIGNATURE}${source}, whose ${ema ? 'EMA ' : ''}weights are ${out}. Continue in PyTorch with`,
    `#   PYTHONPATH=python torchrun --nproc_per_node=N -m mnext_torch.train --config <this file> --initial-checkpoint ${out} --data DIR`,
    '',
  ].join('\n') + configToYaml(continuationRecipe(config, spec));
}

/** Exports a model's weights for PyTorch and, when it is a checkpoint of an mnext train run, the run's recipe. */
export async function exportRun(model: string, out: string, options: OutputOptions & { useEma?: boolean } = {}): Promise<RunExportSummary> {
  const dir = checkpointOf(model);
  const config = isCheckpointDir(dir) ? readTrainState(dir)?.config : undefined;
  const recipe = config && recipePathFor(out);
  // Both outputs are checked before either is written.
  if (recipe) checkOutputPath(recipe, RECIPE_YAML, options);
  const summary = await exportCheckpoint(dir, out, options);
  if (!recipe || !config) return summary;
  writeOutputFile(recipe, RECIPE_YAML, recipeText(config, summary, summary.source, out, summary.ema), options);
  return { ...summary, recipe };
}
