import { existsSync } from 'node:fs';
import { InputError } from '../../errors.js';
import type { ModelSpec } from '../../models/graph.js';
import { type ModelRequest, PAPER_WIDTHS, buildGraph, listFamilies, resolveModelSpec } from '../../models/registry.js';
import { checkStateDict, classifierClasses, selectModelWeights } from '../../models/weights.js';
import type { ModelSource, SourceOptions } from '../model-source.js';
import type { StateDict } from '../../models/state-dict.js';
import { extractStateDict, hasEmaWeights } from './checkpoint-dict.js';
import { readTorchFile } from './load.js';

/** File names treated as torch.save output. */
const TORCH_FILE = /\.(pth|pt|pth\.tar)$/i;

export function isTorchFileName(path: string): boolean {
  return TORCH_FILE.test(path);
}

/** An imported PyTorch file: the model source plus where in the file the weights came from. */
export interface TorchImport {
  readonly source: ModelSource;
  /** The file's EMA weights too, when it has them and the main weights are the raw ones. */
  readonly emaWeights?: StateDict;
  readonly format: 'zip' | 'legacy';
  readonly entry: string;
  readonly info: Record<string, string | number | boolean>;
}

const DEFAULT_ARCH = 'mobilenext';

/**
 * Only the model-shaping fields: resolveModelSpec copies every field it is given into the spec, and
 * SourceOptions / ModelSpec also carry arch and loader flags.
 */
function specFor(arch: string, request: ModelRequest): ModelSpec {
  const { width, numClasses, inputSize, tensorMultiplier, dropRate, dropConnectRate } = request;
  return resolveModelSpec(arch, { width, numClasses, inputSize, tensorMultiplier, dropRate, dropConnectRate });
}

/** Which registered architecture and paper width the weights do fit, for the mismatch message. */
function matchingModel(weights: StateDict, spec: ModelSpec): string | undefined {
  for (const family of listFamilies()) {
    const widths = family.anyWidth ? PAPER_WIDTHS : [family.defaults.width];
    for (const width of widths) {
      try {
        const candidate = specFor(family.arch, { ...spec, width });
        const graph = buildGraph(candidate);
        const numClasses = classifierClasses(graph, weights) ?? spec.numClasses;
        checkStateDict(buildGraph({ ...candidate, numClasses }), weights);
        return `--arch ${family.arch} --width ${width} --num-classes ${numClasses}`;
      } catch {
        // not this one
      }
    }
  }
  return undefined;
}

/**
 * Reads a .pth / .pth.tar / .pt file into a model source for `--arch` (default mobilenext), `--width`,
 * `--tensor-multiplier` (not stored in PyTorch files) and `--num-classes` (default: the classifier's rows).
 */
export function importTorchWeights(path: string, options: SourceOptions = {}): TorchImport {
  const file = readTorchFile(path);
  const { weights, entry, info } = extractStateDict(file.root, { useEma: options.useEma, source: path });
  const arch = options.arch ?? DEFAULT_ARCH;
  const numClasses = options.numClasses ?? classifierClasses(buildGraph(specFor(arch, options)), weights);
  const spec = specFor(arch, { ...options, numClasses });
  const graph = buildGraph(spec);
  const select = (candidate: StateDict, what: string): StateDict => {
    try {
      return selectModelWeights(graph, candidate, `${path} (${what})`);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      const match = matchingModel(candidate, spec);
      throw match ? new InputError(`${error.message} The file matches ${match}.`) : error;
    }
  };
  const selected = select(weights, entry);
  const ema = options.useEma || !hasEmaWeights(file.root) ? undefined : extractStateDict(file.root, { useEma: true, source: path });
  return {
    source: { spec, weights: selected, origin: path },
    emaWeights: ema && select(ema.weights, ema.entry),
    format: file.format,
    entry,
    info,
  };
}

/** `--model x.pth` for eval / profile / convert / parity --weights. */
export async function torchSourceLoader(path: string, options: SourceOptions): Promise<ModelSource | undefined> {
  if (!isTorchFileName(path) || !existsSync(path)) return undefined;
  return importTorchWeights(path, options).source;
}
