import { backendThreads, defaultThreads, ensureBackend, setThreads } from '../backend/index.js';
import { type ConfigKey, type TrainConfig, givenKeys, resolveConfig } from './config.js';
import { type TrainEvents, type TrainResult, train as runTraining } from './engine.js';
import { findConfigFile } from './recipes.js';

/** The keys that say how the cores are used; with neither given, a fresh run picks the fastest arrangement. */
const ARRANGEMENT_KEYS: readonly ConfigKey[] = ['replicas', 'threads'];

/** train()'s options: an abort signal, overrides, and progress hooks (all optional; the library prints nothing). */
export interface TrainOptions extends Omit<TrainEvents, 'log' | 'onBatch' | 'onEpochEnd'> {
  /** Aborting stops after the current step, saves recovery/ and rejects with an InterruptedError. */
  readonly signal?: AbortSignal;
  /** Keys set over the config or recipe: snake_case or kebab-case, typed values or strings as on a command line. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Replace files and folders in a resumed run's folder that mnext did not write (util/output-path.ts). */
  readonly force?: boolean;
  /**
   * Once the configuration is resolved and the backend set up, before any data is read. `threads`: each engine's;
   * absent when the run picks its arrangement once the model is known (then `onArrangement` says which).
   */
  onStart?(run: { readonly config: TrainConfig; readonly backend: string; readonly threads?: number }): void;
  /** After every optimiser step. */
  onStep?: TrainEvents['onBatch'];
  /** After every epoch's validation and checkpoint, with its summary row. */
  onEpoch?: TrainEvents['onEpochEnd'];
  /** Notes and warnings (a skipped image, a generated dataset, a resumed run). */
  onLog?: TrainEvents['log'];
}

/**
 * timm's train.py as a call: `config` is a YAML file, a bundled recipe name (`'mnext_mbv2'`, `'quickstart'`) or
 * the keys themselves (`{ model: 'mobilenext_035', data: 'data/x', epochs: 3 }`), over timm's defaults. Resolves
 * to where the run directory, checkpoints, summary and curves were written.
 */
export async function train(config: string | Partial<TrainConfig>, options: TrainOptions = {}): Promise<TrainResult> {
  const { signal, overrides, force, onStart, onStep, onEpoch, onLog, ...events } = options;
  const sources = typeof config === 'string' ? { file: findConfigFile(config), flags: overrides } : { flags: { ...config, ...overrides } };
  const resolved = resolveConfig(sources);
  const given = givenKeys(sources);
  // A resumed run keeps the arrangement its args.yaml records.
  const pickArrangement = !resolved.resume && !ARRANGEMENT_KEYS.some((key) => given.has(key));
  // The main engine's threads (every core when the arrangement is picked: one engine on them is a candidate); with
  // replicas it only evaluates, and the replicas share out the cores.
  setThreads(resolved.threads || (resolved.replicas > 1 ? 1 : undefined));
  const backend = await ensureBackend(resolved.backend || undefined);
  const threads = resolved.replicas > 1 ? resolved.threads || defaultThreads(resolved.replicas) : backendThreads();
  onStart?.({ config: resolved, backend, threads: pickArrangement ? undefined : threads });
  return runTraining(resolved, { signal, force, pickArrangement, events: { ...events, log: onLog, onBatch: onStep, onEpochEnd: onEpoch } });
}
