import { buildGraph } from '../../models/registry.js';
import type { OutputOptions } from '../../util/output-path.js';
import { loadModelSource } from '../model-source.js';
import { saveTorchStateDict } from './save.js';

/** What `mnext export` wrote, for --json and the summary line. */
export interface ExportSummary {
  source: string;
  out: string;
  format: 'pytorch';
  arch: string;
  width: number;
  numClasses: number;
  tensorMultiplier: number;
  tensors: number;
  ema: boolean;
}

/**
 * Writes a model's weights (checkpoint, fixture, .pth) as a PyTorch state_dict with the official key names, by
 * the output rules (util/output-path.ts).
 */
export async function exportCheckpoint(model: string, out: string, options: OutputOptions & { useEma?: boolean } = {}): Promise<ExportSummary> {
  const source = await loadModelSource(model, { useEma: options.useEma });
  const graph = buildGraph(source.spec);
  saveTorchStateDict(out, graph, source.weights, { force: options.force });
  const { arch, width, numClasses, tensorMultiplier } = source.spec;
  return { source: source.origin, out, format: 'pytorch', arch, width, numClasses, tensorMultiplier, tensors: graph.params.length, ema: options.useEma ?? false };
}
