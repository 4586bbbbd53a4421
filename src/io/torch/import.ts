import type { OutputOptions } from '../../util/output-path.js';
import { saveCheckpoint } from '../checkpoint.js';
import { buildGraph } from '../../models/registry.js';
import { countModel } from '../../models/count.js';
import { importTorchWeights } from './source.js';

export interface ImportOptions extends OutputOptions {
  arch?: string;
  width?: number;
  numClasses?: number;
  inputSize?: number;
  tensorMultiplier?: number;
  useEma?: boolean;
  out: string;
}

/** What `mnext import` wrote, for --json and the summary line. */
export interface ImportSummary {
  source: string;
  out: string;
  format: 'zip' | 'legacy';
  entry: string;
  arch: string;
  width: number;
  numClasses: number;
  tensorMultiplier: number;
  tensors: number;
  params: number;
  ema: boolean;
  info: Record<string, string | number | boolean>;
}

/**
 * Reads a PyTorch file and writes it as an mnext checkpoint directory (keeping the file's EMA weights as ema.bin), with
 * the class names and eval transform the file records (mnext_torch.train checkpoints do).
 */
export function importCheckpoint(file: string, opts: ImportOptions): ImportSummary {
  const imported = importTorchWeights(file, {
    arch: opts.arch, width: opts.width, numClasses: opts.numClasses, inputSize: opts.inputSize,
    tensorMultiplier: opts.tensorMultiplier, useEma: opts.useEma,
  });
  const { spec, weights, classes, mean, std, cropPct, interpolation } = imported.source;
  const info = { ...imported.info, importedFrom: file, entry: imported.entry };
  saveCheckpoint(opts.out, { spec, weights, emaWeights: imported.emaWeights, classes, mean, std, cropPct, interpolation, info }, { force: opts.force });
  return {
    source: file, out: opts.out, format: imported.format, entry: imported.entry, arch: spec.arch, width: spec.width,
    numClasses: spec.numClasses, tensorMultiplier: spec.tensorMultiplier, tensors: weights.size,
    params: countModel(buildGraph(spec)).params, ema: imported.emaWeights !== undefined, info: imported.info,
  };
}

