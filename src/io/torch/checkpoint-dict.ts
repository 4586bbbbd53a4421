import { InputError } from '../../errors.js';
import type { StateDict } from '../../models/state-dict.js';
import { PyDict, PyObject, PyTuple, type PyValue } from './pickle.js';
import { TorchTensor } from './tensor.js';

/** The weights picked out of a torch.save object, and what the file said about itself. */
export interface TorchWeights {
  readonly weights: StateDict;
  /** Which entry they came from: 'state_dict', 'state_dict_ema', 'model', or 'bare state_dict'. */
  readonly entry: string;
  /** Plain scalars of a training checkpoint (epoch, arch, metric, version). */
  readonly info: Record<string, string | number | boolean>;
}

/** Where training scripts keep weights, most specific first (timm / the official CheckpointSaver, ports). */
const EMA_ENTRIES = ['state_dict_ema', 'model_ema'] as const;
const RAW_ENTRIES = ['state_dict', 'model'] as const;
/** DataParallel / DistributedDataParallel wrap the model as `module`. */
const WRAPPER_PREFIX = 'module.';

function isTensorDict(value: PyValue | undefined): boolean {
  return value instanceof PyDict && value.map.size > 0 && [...value.map.values()].every((v) => v instanceof TorchTensor);
}

function describeValue(value: PyValue): string {
  if (value instanceof PyObject) return `a pickled ${value.callable.qualifiedName} object`;
  if (value instanceof PyTuple) return 'a tuple';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof TorchTensor) return 'a single tensor';
  return value === null ? 'None' : `a ${typeof value}`;
}

function scalarInfo(root: PyDict): Record<string, string | number | boolean> {
  const info: Record<string, string | number | boolean> = {};
  for (const [key, value] of root.map) {
    if (typeof key === 'string' && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) info[key] = value;
  }
  return info;
}

/** Whether a training checkpoint also carries EMA weights. */
export function hasEmaWeights(root: PyValue): boolean {
  return root instanceof PyDict && EMA_ENTRIES.some((entry) => isTensorDict(root.get(entry)));
}

function pickEntry(root: PyDict, useEma: boolean, source: string): { dict: PyDict; entry: string } {
  const entries = useEma ? EMA_ENTRIES : RAW_ENTRIES;
  for (const entry of entries) {
    const value = root.get(entry);
    if (isTensorDict(value)) return { dict: value as PyDict, entry };
  }
  if (useEma) throw new InputError(`${source} has no EMA weights (no ${EMA_ENTRIES.join(' or ')} entry); drop --use-ema`);
  if (isTensorDict(root)) return { dict: root, entry: 'bare state_dict' };
  const keys = [...root.map.keys()].map(String).slice(0, 10).join(', ');
  throw new InputError(`${source} holds no state_dict: expected a ${RAW_ENTRIES.join(' / ')} entry or a dict of tensors, found keys ${keys}`);
}

/**
 * Picks the state_dict out of what torch.load returns: a training checkpoint dict (`state_dict`,
 * `state_dict_ema` with --use-ema, `model`) or a bare state_dict. Strips `module.` prefixes and drops
 * `num_batches_tracked` (BN bookkeeping the model does not use); values become float32 in PyTorch layout.
 */
export function extractStateDict(root: PyValue, options: { useEma?: boolean; source: string }): TorchWeights {
  const { source } = options;
  if (!(root instanceof PyDict)) {
    const hint = root instanceof PyObject ? '; save model.state_dict() rather than the whole model' : '';
    throw new InputError(`${source} holds ${describeValue(root)}, not a state_dict or checkpoint dict${hint}`);
  }
  const { dict, entry } = pickEntry(root, options.useEma ?? false, source);
  const weights: StateDict = new Map();
  for (const [key, tensor] of dict.map) {
    const name = String(key).startsWith(WRAPPER_PREFIX) ? String(key).slice(WRAPPER_PREFIX.length) : String(key);
    if (name.endsWith('num_batches_tracked')) continue;
    const t = tensor as TorchTensor;
    let data: Float32Array;
    try {
      data = t.toFloat32();
    } catch (error) {
      throw new InputError(`${source}: tensor ${name} is unreadable (${(error as Error).message})`);
    }
    weights.set(name, { shape: [...t.shape], data });
  }
  return { weights, entry, info: entry === 'bare state_dict' ? {} : scalarInfo(root) };
}

/**
 * What a training checkpoint of mnext's PyTorch twin (python/mnext_torch) records beside the weights: its `args`
 * (the resolved mnext config, as a plain dict) name the model, and the file lists the class names. A file of
 * another trainer (timm's pickled argparse.Namespace, a bare state_dict) records none of it.
 */
export interface RecordedRun {
  readonly model?: string;
  readonly width?: number;
  readonly tensorMultiplier?: number;
  readonly inputSize?: number;
  readonly mean?: number[];
  readonly std?: number[];
  readonly cropPct?: number;
  /** The run's train interpolation: a fixed filter is also its eval filter ('random' evaluates with the default). */
  readonly interpolation?: string;
  readonly classes?: string[];
}

const numberOr = (value: PyValue | undefined) => (typeof value === 'number' ? value : undefined);
const numbersOr = (value: PyValue | undefined) => (Array.isArray(value) && value.every((v) => typeof v === 'number') ? value as number[] : undefined);

export function recordedRun(root: PyValue): RecordedRun {
  const args = root instanceof PyDict ? root.get('args') : undefined;
  if (!(args instanceof PyDict) || typeof args.get('model') !== 'string') return {};
  const classes = (root as PyDict).get('classes');
  return {
    model: args.get('model') as string,
    width: numberOr(args.get('width')),
    tensorMultiplier: numberOr(args.get('tensor_multiplier')),
    inputSize: numberOr(args.get('img_size')),
    mean: numbersOr(args.get('mean')),
    std: numbersOr(args.get('std')),
    cropPct: numberOr(args.get('crop_pct')),
    interpolation: typeof args.get('interpolation') === 'string' ? args.get('interpolation') as string : undefined,
    classes: Array.isArray(classes) && classes.every((c) => typeof c === 'string') ? classes as string[] : undefined,
  };
}
