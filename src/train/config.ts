/**
 * Training configuration, timm style: every key of train.py's namespace (snake_case, as in args.yaml) with its
 * default, a YAML file that overrides the defaults, and command-line flags (the same keys in kebab-case) that
 * override the file. Each value is checked on the way in; errors name the key, the expectation and the value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { UsageError } from '../errors.js';
import { type FileOutputKind, readHead } from '../util/output-path.js';
import { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD, type Interpolation } from '../data/constants.js';
import { OPTIMIZERS, type OptimizerName } from './optim.js';
import { SCHEDULES, type ScheduleName } from './scheduler.js';
import { savedRunConfig } from './run-state.js';

/** The resolved configuration (key names as timm's train.py / args.yaml). `null` = "the model's / data's default". */
export interface TrainConfig {
  data: string;
  output: string;
  model: string;
  width: number | null;
  tensor_multiplier: number;
  num_classes: number | null;
  img_size: number;
  batch_size: number;
  epochs: number;
  opt: OptimizerName;
  opt_eps: number;
  momentum: number;
  weight_decay: number;
  lr: number;
  sched: ScheduleName;
  sched_on_updates: boolean;
  warmup_epochs: number;
  warmup_lr: number;
  min_lr: number;
  cooldown_epochs: number;
  decay_epochs: number;
  decay_rate: number;
  smoothing: number;
  drop: number | null;
  drop_connect: number | null;
  scale: number[];
  ratio: number[];
  hflip: number;
  color_jitter: number;
  interpolation: 'random' | 'bilinear' | 'bicubic';
  reprob: number;
  remode: 'const' | 'rand' | 'pixel';
  mixup: number;
  model_ema: boolean;
  model_ema_decay: number;
  crop_pct: number;
  mean: number[];
  std: number[];
  seed: number;
  workers: number;
  replicas: number;
  threads: number;
  resume: string;
  initial_checkpoint: string;
  use_ema: boolean;
  freeze_backbone: boolean;
  backend: string;
  synthetic: boolean;
  synthetic_per_class: number;
  synthetic_size: number;
}

export type ConfigKey = keyof TrainConfig;

/** Parses one raw value (YAML scalar/list or a flag's string) or throws the expectation it failed. */
type Parser<T> = (raw: unknown) => T;

class Expected extends Error {}

function asNumber(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return Number.NaN;
}

function numberIn(what: string, ok: (n: number) => boolean, integer = false): Parser<number> {
  return (raw) => {
    const n = asNumber(raw);
    if (!Number.isFinite(n) || !ok(n) || (integer && !Number.isInteger(n))) throw new Expected(what);
    return n;
  };
}

const positive = numberIn('a positive number', (n) => n > 0);
const nonNegative = numberIn('a non-negative number', (n) => n >= 0);
const positiveInt = numberIn('a positive integer', (n) => n > 0, true);
const nonNegativeInt = numberIn('a non-negative integer', (n) => n >= 0, true);
const probability = numberIn('a number in [0, 1]', (n) => n >= 0 && n <= 1);
const belowOne = numberIn('a number in [0, 1)', (n) => n >= 0 && n < 1);
const fraction = numberIn('a number in (0, 1]', (n) => n > 0 && n <= 1);

function nullable<T>(parser: Parser<T>): Parser<T | null> {
  return (raw) => (raw === null || raw === 'null' || raw === '' ? null : parser(raw));
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    if (typeof raw === 'string' && (values as readonly string[]).includes(raw.toLowerCase())) return raw.toLowerCase() as T;
    throw new Expected(`one of ${values.join(', ')}`);
  };
}

const text: Parser<string> = (raw) => {
  if (typeof raw === 'string') return raw;
  if (raw === null) return '';
  throw new Expected('a string');
};

const bool: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === '1' || raw === 'yes') return true;
  if (raw === 'false' || raw === '0' || raw === 'no') return false;
  throw new Expected('true or false');
};

function numberList(length: number, element: Parser<number>, what: string): Parser<number[]> {
  return (raw) => {
    const items = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw;
    if (!Array.isArray(items) || items.length !== length) throw new Expected(`${length} ${what} (comma-separated on the command line)`);
    try {
      return items.map((item) => element(item));
    } catch {
      throw new Expected(`${length} ${what} (comma-separated on the command line)`);
    }
  };
}

interface KeySpec<T> {
  readonly parse: Parser<T>;
  readonly defaultValue: T;
  readonly help: string;
}

type Schema = { readonly [K in ConfigKey]: KeySpec<TrainConfig[K]> };

/** Every key, its parser and train.py's default (spec §4.2) unless noted. */
export const CONFIG_SCHEMA: Schema = {
  data: { parse: text, defaultValue: '', help: 'dataset folder (train/ and val/ of class folders)' },
  output: { parse: text, defaultValue: './output', help: 'parent folder of the run directory' },
  model: { parse: text, defaultValue: 'mobilenext', help: 'model name (see `mnext models`)' },
  width: { parse: nullable(positive), defaultValue: null, help: 'width multiplier (default: the model name\'s)' },
  tensor_multiplier: { parse: positiveInt, defaultValue: 1, help: 'partial identity divisor k of MobileNeXt' },
  num_classes: { parse: nullable(positiveInt), defaultValue: null, help: 'classes (default: the dataset\'s)' },
  img_size: { parse: positiveInt, defaultValue: 224, help: 'input image size' },
  batch_size: { parse: positiveInt, defaultValue: 32, help: 'batch size' },
  epochs: { parse: positiveInt, defaultValue: 200, help: 'epochs (cosine: before the cooldown)' },
  opt: { parse: oneOf(OPTIMIZERS), defaultValue: 'sgd', help: `optimizer: ${OPTIMIZERS.join(', ')} (sgd = Nesterov)` },
  opt_eps: { parse: positive, defaultValue: 1e-8, help: 'optimizer epsilon (RMSpropTF, AdamW)' },
  momentum: { parse: belowOne, defaultValue: 0.9, help: 'momentum' },
  weight_decay: { parse: nonNegative, defaultValue: 1e-4, help: 'weight decay (not on BN parameters and biases)' },
  lr: { parse: positive, defaultValue: 0.01, help: 'learning rate' },
  sched: { parse: oneOf(SCHEDULES), defaultValue: 'step', help: `LR schedule: ${SCHEDULES.join(', ')}` },
  sched_on_updates: { parse: bool, defaultValue: false, help: 'update the LR every step instead of every epoch' },
  warmup_epochs: { parse: nonNegativeInt, defaultValue: 3, help: 'linear warmup epochs' },
  warmup_lr: { parse: nonNegative, defaultValue: 1e-4, help: 'warmup start LR' },
  min_lr: { parse: nonNegative, defaultValue: 1e-5, help: 'cosine floor LR' },
  cooldown_epochs: { parse: nonNegativeInt, defaultValue: 0, help: 'epochs at min_lr after the cosine (timm\'s default today; the 2020 recipes set 10)' },
  decay_epochs: { parse: positive, defaultValue: 30, help: 'step schedule: epochs between decays' },
  decay_rate: { parse: positive, defaultValue: 0.1, help: 'step schedule: decay factor' },
  smoothing: { parse: belowOne, defaultValue: 0.1, help: 'label smoothing' },
  drop: { parse: nullable(belowOne), defaultValue: null, help: 'classifier dropout (default: the model\'s, 0.2)' },
  drop_connect: { parse: nullable(belowOne), defaultValue: null, help: 'drop-connect rate (EfficientNet-style models)' },
  scale: { parse: numberList(2, fraction, 'numbers in (0, 1]'), defaultValue: [0.08, 1], help: 'RandomResizedCrop area range' },
  ratio: { parse: numberList(2, positive, 'positive numbers'), defaultValue: [3 / 4, 4 / 3], help: 'RandomResizedCrop aspect range' },
  hflip: { parse: probability, defaultValue: 0.5, help: 'horizontal flip probability' },
  color_jitter: { parse: nonNegative, defaultValue: 0.4, help: 'colour jitter strength' },
  interpolation: { parse: oneOf(['random', 'bilinear', 'bicubic'] as const), defaultValue: 'random', help: 'train resize interpolation (eval: bicubic unless bilinear)' },
  reprob: { parse: probability, defaultValue: 0, help: 'random erasing probability' },
  remode: { parse: oneOf(['const', 'rand', 'pixel'] as const), defaultValue: 'const', help: 'random erasing fill' },
  mixup: { parse: nonNegative, defaultValue: 0, help: 'mixup alpha (0 = off)' },
  model_ema: { parse: bool, defaultValue: false, help: 'keep a model EMA (drives best checkpoint and summary)' },
  model_ema_decay: { parse: belowOne, defaultValue: 0.9998, help: 'EMA decay' },
  crop_pct: { parse: fraction, defaultValue: DEFAULT_CROP_PCT, help: 'eval centre crop fraction' },
  mean: { parse: numberList(3, numberIn('a number', () => true), 'numbers'), defaultValue: [...IMAGENET_MEAN], help: 'normalisation mean (0..1 scale)' },
  std: { parse: numberList(3, positive, 'positive numbers'), defaultValue: [...IMAGENET_STD], help: 'normalisation std (0..1 scale)' },
  seed: { parse: nonNegativeInt, defaultValue: 42, help: 'random seed' },
  workers: { parse: positiveInt, defaultValue: 4, help: 'image decodes in flight' },
  replicas: { parse: positiveInt, defaultValue: 1, help: 'data-parallel training replicas, each a worker thread with its own engine (1 = train on the main thread; default: with neither replicas nor threads given, the fastest arrangement of the cores, recorded in args.yaml)' },
  threads: { parse: nonNegativeInt, defaultValue: 0, help: 'intra-op threads of each wasm engine (0 = the machine\'s cores, shared out among the replicas; default: see replicas)' },
  resume: { parse: text, defaultValue: '', help: 'run directory or checkpoint to continue from (its args.yaml supplies every key not given)' },
  initial_checkpoint: {
    parse: text, defaultValue: '',
    help: 'weights to start from: a checkpoint folder, .pth or .pth.tar (the classifier is re-initialised when the class count differs)',
  },
  use_ema: { parse: bool, defaultValue: false, help: 'initial_checkpoint: start from its EMA weights' },
  freeze_backbone: { parse: bool, defaultValue: false, help: 'train the classifier only (backbone weights and BN statistics stay as loaded)' },
  backend: { parse: text, defaultValue: '', help: 'tfjs backend: tensorflow, wasm or cpu (default: best available)' },
  synthetic: { parse: bool, defaultValue: false, help: 'generate a synthetic dataset at `data` when it is missing' },
  synthetic_per_class: { parse: positiveInt, defaultValue: 40, help: 'synthetic: training images per class' },
  synthetic_size: { parse: positiveInt, defaultValue: 40, help: 'synthetic: image side' },
};

export const CONFIG_KEYS = Object.keys(CONFIG_SCHEMA) as ConfigKey[];

/** A run's eval resize filter: its own when fixed, bicubic (timm's eval default) when training picks at random. */
export function evalInterpolation(config: Pick<TrainConfig, 'interpolation'>): Interpolation {
  return config.interpolation === 'bilinear' ? 'bilinear' : DEFAULT_INTERPOLATION;
}

export function kebab(key: string): string {
  return key.replace(/_/g, '-');
}

export function defaultConfig(): TrainConfig {
  const entries = CONFIG_KEYS.map((k) => [k, structuredClone(CONFIG_SCHEMA[k].defaultValue)]);
  return Object.fromEntries(entries) as TrainConfig;
}

function describe(raw: unknown): string {
  return typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw);
}

function closestKey(key: string): string | undefined {
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i += 1) {
      let previous = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j += 1) {
        const current = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return d[b.length];
  };
  const best = CONFIG_KEYS.map((k) => ({ k, d: distance(key, k) })).sort((a, b) => a.d - b.d)[0];
  return best.d <= 3 ? best.k : undefined;
}

/** Sets one key from a raw value, or throws `<key>: expected <what>, got <value>` (source names the file/flag). */
function setKey(config: TrainConfig, rawKey: string, raw: unknown, source: string): void {
  const key = rawKey.replace(/-/g, '_');
  if (!(key in CONFIG_SCHEMA)) {
    const hint = closestKey(key);
    throw new UsageError(`${source}: unknown key '${rawKey}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
  }
  const spec = CONFIG_SCHEMA[key as ConfigKey];
  try {
    (config as unknown as Record<string, unknown>)[key] = spec.parse(raw);
  } catch (error) {
    if (!(error instanceof Expected)) throw error;
    throw new UsageError(`${key}: expected ${error.message}, got ${describe(raw)}${source === 'command line' ? '' : ` (in ${source})`}`);
  }
}

/** Reads a YAML config's keys (no defaults applied). */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new UsageError(`config file ${path} does not exist`);
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`${path}: expected a mapping of config keys`);
  return parsed as Record<string, unknown>;
}

/**
 * timm's two-stage parsing: defaults, then the YAML file's keys, then the flags given on the command line
 * (raw strings keyed snake_case or kebab-case). With `resume`, the run's own config takes the defaults' place,
 * so only what is given differs from it (train() decides which differences a resume accepts). Returns the
 * validated configuration.
 */
export function resolveConfig(options: { file?: string; flags?: Record<string, unknown> } = {}): TrainConfig {
  const file = options.file ? readConfigFile(options.file) : {};
  const layered = (base: TrainConfig): TrainConfig => {
    const config = structuredClone(base);
    for (const [key, raw] of Object.entries(file)) setKey(config, key, raw, options.file!);
    for (const [key, raw] of Object.entries(options.flags ?? {})) setKey(config, key, raw, 'command line');
    return config;
  };
  let config = layered(defaultConfig());
  // Keys added since the run was made take their defaults.
  if (config.resume) config = layered({ ...defaultConfig(), ...savedRunConfig(config.resume), resume: config.resume });
  checkConsistency(config);
  return config;
}

/** The keys the file or the flags set (snake_case or kebab-case), as opposed to those left at their defaults. */
export function givenKeys(options: { file?: string; flags?: Record<string, unknown> }): Set<ConfigKey> {
  const file = options.file ? readConfigFile(options.file) : {};
  return new Set([...Object.keys(file), ...Object.keys(options.flags ?? {})].map((key) => key.replace(/-/g, '_') as ConfigKey));
}

function checkConsistency(config: TrainConfig): void {
  if (config.scale[0] > config.scale[1]) throw new UsageError(`scale: expected min <= max, got [${config.scale.join(', ')}]`);
  if (config.ratio[0] > config.ratio[1]) throw new UsageError(`ratio: expected min <= max, got [${config.ratio.join(', ')}]`);
  if (config.replicas > config.batch_size) {
    throw new UsageError(`replicas: expected at most batch_size (${config.batch_size}) so that every replica gets images, got ${config.replicas}`);
  }
  for (const key of ['use_ema', 'freeze_backbone'] as const) {
    if (config[key] && config.initial_checkpoint === '') throw new UsageError(`${key}: applies to the weights of initial_checkpoint, which is not given`);
  }
  if (config.warmup_epochs > 0 && config.warmup_epochs >= config.epochs && config.sched === 'cosine') {
    throw new UsageError(`warmup_epochs: expected fewer than epochs (${config.epochs}), got ${config.warmup_epochs}`);
  }
}

/** Whether args.yaml text is mnext's: a mapping of config keys in schema order from `data` (timm's is sorted by name). */
function isOwnArgsYaml(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch {
    return false;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
  const order = Object.keys(parsed).map((key) => CONFIG_KEYS.indexOf(key as ConfigKey));
  return order[0] === 0 && order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]));
}

/** A run's args.yaml as an output (util/output-path.ts): a resumed run rewrites only its own. */
export const ARGS_YAML: FileOutputKind = {
  type: 'file', description: 'run configuration (args.yaml)',
  recognise: (path) => isOwnArgsYaml(new TextDecoder().decode(readHead(path, 1 << 16))),
};

/** args.yaml text: every key in schema order. */
export function configToYaml(config: TrainConfig): string {
  return stringifyYaml(Object.fromEntries(CONFIG_KEYS.map((k) => [k, config[k]])));
}
