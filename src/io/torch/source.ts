import { existsSync } from 'node:fs';
import { InputError } from '../../errors.js';
import { INTERPOLATIONS } from '../../data/constants.js';
import type { ModelSpec } from '../../models/graph.js';
import { type ModelRequest, PAPER_WIDTHS, buildGraph, listFamilies, resolveModelSpec } from '../../models/registry.js';
import { checkStateDict, classifierClasses, selectModelWeights } from '../../models/weights.js';
import type { ModelSource, SourceOptions } from '../model-source.js';
import type { StateDict } from '../../models/state-dict.js';
import { type RecordedRun, extractStateDict, hasEmaWeights, recordedRun } from './checkpoint-dict.js';
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

/** The options with what the file records filling those not given (the model of an mnext_torch.train checkpoint). */
function withRecorded(options: SourceOptions, recorded: RecordedRun): SourceOptions & { arch: string } {
  return {
    ...options,
    arch: options.arch ?? recorded.model ?? DEFAULT_ARCH,
    width: options.width ?? (options.arch === undefined ? recorded.width : undefined),
    tensorMultiplier: options.tensorMultiplier ?? recorded.tensorMultiplier,
    inputSize: options.inputSize ?? recorded.inputSize,
  };
}

/** The eval transform and labels an mnext_torch.train checkpoint records, as a model source carries them. */
function recordedLabels(recorded: RecordedRun): Pick<ModelSource, 'classes' | 'mean' | 'std' | 'cropPct' | 'interpolation'> {
  const { classes, mean, std, cropPct } = recorded;
  // A fixed train filter is the run's eval filter too; 'random' evaluated with the default (bicubic).
  const interpolation = INTERPOLATIONS.find((name) => name === recorded.interpolation);
  return { classes, mean, std, cropPct, interpolation };
}

/**
 * Reads a .pth / .pth.tar / .pt file into a model source for `--arch` (default: the model an mnext_torch.train
 * checkpoint records, else mobilenext), `--width`, `--tensor-multiplier` (not stored in other PyTorch files) and
 * `--num-classes` (default: the classifier's rows).
 */
export function importTorchWeights(path: string, given: SourceOptions = {}): TorchImport {
  const file = readTorchFile(path);
  const { weights, entry, info } = extractStateDict(file.root, { useEma: given.useEma, source: path });
  const recorded = recordedRun(file.root);
  const options = withRecorded(given, recorded);
  const { arch } = options;
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
    source: { spec, weights: selected, origin: path, ...recordedLabels(recorded) },
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
