import { relative } from 'node:path';
import { type Command, Option } from 'commander';
import { CONFIG_KEYS, CONFIG_SCHEMA, type ConfigKey, type TrainConfig, kebab } from '../train/config.js';
import { type TrainOptions, type TrainResult, listRecipes, train } from '../index.js';
import { BATCH_SIZE_ALIASES, FORCE_OPTION, IMG_SIZE_ALIASES, addOption, examples } from './options.js';
import { type Output, arrangementChoice, colour, printJson } from './output.js';
import { type Progress, startProgress } from './progress.js';

/** Options commander collected: config keys in camelCase (commander's naming) plus the command's own. */
type TrainFlags = Record<string, unknown> & { config?: string; json?: boolean; progress?: boolean; force?: boolean };

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Only the flags actually given, keyed as in the config (snake_case). */
export function givenFlags(flags: Record<string, unknown>): Record<string, unknown> {
  // `--model-ema` alone means true.
  return Object.fromEntries(CONFIG_KEYS.filter((k) => flags[camel(k)] !== undefined).map((k) => [k, flags[camel(k)] === true ? 'true' : flags[camel(k)]]));
}

/** Progress on stderr: a bar per epoch's steps and per validation (erased when done), one summary line per epoch. */
function progressHooks(output: Output, bars: boolean): { hooks: TrainOptions; stop: () => void } {
  let progress: Progress | undefined;
  const show = (label: string, total: number, unit: string) => {
    progress?.stop();
    progress = startProgress({ label, total, unit, output, enabled: bars, transient: true });
  };
  const hooks: TrainOptions = {
    onLog: (message) => (progress ? progress.log(message) : output.err(message)),
    onEpochStart: (epoch, epochs, steps) => show(`epoch ${epoch}/${epochs - 1}`, steps, 'steps'),
    onStep: (p) => progress?.update(p.step, { loss: p.loss.toFixed(4), lr: p.lr.toExponential(3), 'img/s': p.imagesPerSecond.toFixed(1) }),
    onEvalStart: (epoch, batches) => show(`eval ${epoch}`, batches, 'batches'),
    onEvalBatch: (done) => progress?.update(done),
    onEpoch: (row, info) => {
      progress?.stop();
      progress = undefined;
      const ema = info.emaUsed ? ` (raw top-1 ${info.raw.top1.toFixed(2)})` : '';
      output.err(`epoch ${row.epoch}/${info.epochs - 1}: train_loss ${row.train_loss.toFixed(4)} eval_loss ${row.eval_loss.toFixed(4)} ` +
        `top-1 ${row.eval_top1.toFixed(2)} top-5 ${row.eval_top5.toFixed(2)}${info.emaUsed ? ' [EMA]' : ''}${ema} lr ${row.lr.toExponential(3)} ` +
        `${row.img_per_sec.toFixed(1)} img/s${info.isBest ? colour.green(' *best') : ''}`);
    },
  };
  return { hooks, stop: () => progress?.stop() };
}

/** "1 replica (main thread), 2 threads": where the steps run. */
function arrangementOf(replicas: number, threads: number): string {
  const engines = replicas === 1 ? '1 replica (main thread)' : `${replicas} replicas (worker threads)`;
  return `${engines}, ${threads} thread${threads === 1 ? '' : 's'}${replicas === 1 ? '' : ' each'}`;
}

function printResult(output: Output, result: TrainResult, config: TrainConfig): void {
  const path = (p: string) => {
    const rel = relative(process.cwd(), p);
    return rel.startsWith('..') ? p : rel || '.';
  };
  const best = result.best ? `${result.best.top1.toFixed(2)} % top-1 at epoch ${result.best.epoch}` : 'none';
  output.out([
    `Run directory:   ${path(result.runDir)}`,
    `Summary:         ${path(result.summary)}`,
    `Curves:          ${path(result.curves)}`,
    `Best checkpoint: ${path(result.bestDir)} (${best}${config.model_ema ? ', EMA' : ''})`,
    '',
    'Next:',
    `  npx mnext eval --model ${path(result.bestDir)} --data ${config.data}${config.model_ema ? ' --use-ema' : ''}`,
    `  npx mnext profile --model ${path(result.bestDir)}`,
    `  npx mnext convert --model ${path(result.bestDir)} --to tflite --out ${path(result.runDir)}/model.tflite`,
  ].join('\n'));
}

/** The short flag and the older names of config keys (one vocabulary across commands; see options.ts). */
const SHORT_FLAGS: Partial<Record<ConfigKey, string>> = { batch_size: '-b' };
const FLAG_ALIASES: Partial<Record<ConfigKey, readonly string[]>> = { img_size: IMG_SIZE_ALIASES, batch_size: BATCH_SIZE_ALIASES };

/** " (default: x)" for a key's help, unless the help already says what its default is. */
function defaultNote(help: string, value: unknown): string {
  if (help.includes('(default')) return '';
  if (value === null || value === '') return ' (default: none)';
  return ` (default: ${Array.isArray(value) ? value.map((v: number) => Number(v.toPrecision(4))).join(',') : String(value)})`;
}

/** A --kebab-case flag per config key (commands that take a recipe share them). */
export function addConfigOptions(command: Command): void {
  for (const key of CONFIG_KEYS) {
    const spec = CONFIG_SCHEMA[key];
    const value = typeof spec.defaultValue === 'boolean' ? '[value]' : '<value>';
    const short = SHORT_FLAGS[key] === undefined ? '' : `${SHORT_FLAGS[key]}, `;
    addOption(command, new Option(`${short}--${kebab(key)} ${value}`, `${spec.help}${defaultNote(spec.help, spec.defaultValue)}`), ...(FLAG_ALIASES[key] ?? []));
  }
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('train')
    .description('train a model from a YAML recipe (timm train.py keys); every key is also a --kebab-case flag')
    .option('--config <file|recipe>', `YAML config, or a bundled recipe by name (${listRecipes().join(', ')}): sets defaults that flags override`)
    .option('--json', 'print the result (run directory, rows, best) as JSON')
    .option('--no-progress', 'no progress bars (epoch summaries only)')
    .option(...FORCE_OPTION);
  addConfigOptions(command);
  command.addHelpText('after', examples(
    'mnext train --config quickstart',
    'mnext train --config mnext_mbv2 --data /data/imagenet --model-ema --replicas 2',
    'mnext train --model mobilenext_035 --data data/synthetic --img-size 32 -b 16 --epochs 5 --warmup-epochs 0'));
  command.action(async (flags: TrainFlags) => {
    const given = givenFlags(flags);
    const controller = new AbortController();
    const onSigint = () => {
      output.err('\nInterrupted: finishing the current step and saving a recovery checkpoint (Ctrl-C again to abort now)...');
      process.off('SIGINT', onSigint);
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const progress = progressHooks(output, flags.progress !== false && process.stderr.isTTY === true && !flags.json);
    let config: TrainConfig | undefined;
    try {
      const result = await train(flags.config ?? {}, {
        ...progress.hooks, overrides: given, signal: controller.signal, force: flags.force,
        onStart: (run) => {
          config = run.config;
          output.err(`mnext train: ${config.model} on ${config.data || '(no data)'}, backend ${run.backend}, ${run.threads === undefined ? 'the fastest arrangement' : arrangementOf(config.replicas, run.threads)}`);
        },
        onArrangement: ({ probed, ...best }) => output.err(`mnext train: ${arrangementChoice(best, probed)}`),
      });
      progress.stop();
      if (flags.json) {
        const { runDir, best, lastDir, bestDir, curves, rows, arrangement } = result;
        printJson(output, { runDir, best, lastDir, bestDir, curves, summary: rows, arrangement });
      } else printResult(output, result, config!);
    } finally {
      progress.stop();
      process.off('SIGINT', onSigint);
    }
  });
}
