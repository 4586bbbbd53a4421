/**
 * What a resumed run may change, as timm's train.py on --resume: the schedule's length (epochs,
 * cooldown_epochs; the LR at each epoch then follows the new schedule from where the run is), where the data
 * lives (the same classes), and how the run executes (workers, replicas, threads, backend, output). Anything else would
 * make the checkpoint's optimiser state, augmentation stream or model something the run never was, so a
 * difference is refused with every key named.
 */
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { type ConfigKey, type TrainConfig, CONFIG_KEYS, defaultConfig } from './config.js';

const SCHEDULE_KEYS: readonly ConfigKey[] = ['epochs', 'cooldown_epochs'];
const EXECUTION_KEYS: readonly ConfigKey[] = ['resume', 'workers', 'replicas', 'threads', 'backend', 'output'];
/** Checked against the run's classes once the dataset is open (checkRunClasses). */
const DATA_KEYS: readonly ConfigKey[] = ['data'];
const FREE_KEYS = new Set<ConfigKey>([...SCHEDULE_KEYS, ...DATA_KEYS, ...EXECUTION_KEYS]);

/** Values as args.yaml holds them; a path key compares where it points, not how it is spelled. */
function comparable(key: ConfigKey, value: unknown): string {
  if (key === 'initial_checkpoint' && typeof value === 'string' && value !== '') return resolve(value);
  return JSON.stringify(value);
}

function shown(value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : JSON.stringify(value);
}

/**
 * The config a resumed run continues with: `requested` (the run's own config with what was given on top, see
 * resolveConfig) once every key it changes is one a resume may change.
 */
export function continuedConfig(saved: TrainConfig, requested: TrainConfig): TrainConfig {
  const run = { ...defaultConfig(), ...saved };
  const changed = CONFIG_KEYS.filter((k) => !FREE_KEYS.has(k) && comparable(k, run[k]) !== comparable(k, requested[k]));
  if (changed.length > 0) {
    const list = changed.map((k) => `${k} (run: ${shown(run[k])}, given: ${shown(requested[k])})`).join(', ');
    throw new UsageError(
      `resume: ${list} ${changed.length === 1 ? 'differs' : 'differ'} from the run's args.yaml; a resumed run may change only ` +
      `${[...SCHEDULE_KEYS, ...DATA_KEYS, ...EXECUTION_KEYS.filter((k) => k !== 'resume')].join(', ')}`,
    );
  }
  // Equal, or equal where they point (a path spelled another way): args.yaml keeps the run's spelling.
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k, FREE_KEYS.has(k) ? requested[k] : run[k]])) as unknown as TrainConfig;
}

/** A resumed run's data (moved or not) must have the classes the run was trained on (both sorted, as ImageFolder). */
export function checkRunClasses(runClasses: readonly string[], dataClasses: readonly string[], data: string): void {
  const missing = runClasses.filter((c) => !dataClasses.includes(c));
  const extra = dataClasses.filter((c) => !runClasses.includes(c));
  if (missing.length + extra.length === 0) return;
  const difference = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not in the run: ${extra.join(', ')}` : ''];
  throw new InputError(`data: ${data} does not have the run's classes (classes.txt): ${difference.filter(Boolean).join('; ')}`);
}
