import { relative } from 'node:path';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { CONFIG_KEYS, CONFIG_SCHEMA, type TrainConfig, kebab, resolveConfig } from '../train/config.js';
import { type TrainEvents, type TrainResult, train } from '../train/engine.js';
import { FORCE_OPTION } from './options.js';
import { type Output, colour, printJson } from './output.js';

/** Options commander collected: config keys in camelCase (commander's naming) plus the command's own. */
type TrainFlags = Record<string, unknown> & { config?: string; json?: boolean; progress?: boolean; force?: boolean };

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Only the flags actually given, keyed as in the config (snake_case). */
function givenFlags(flags: TrainFlags): Record<string, unknown> {
  return Object.fromEntries(CONFIG_KEYS.filter((k) => flags[camel(k)] !== undefined).map((k) => [k, flags[camel(k)]]));
}

/** Progress bars on stderr (epoch bar + batch bar) and one summary line per epoch. */
function progressEvents(output: Output, enabled: boolean): { events: TrainEvents; stop: () => void } {
  const bars = enabled ? new MultiBar({
    format: '{label} [{bar}] {value}/{total} {info} | ETA {eta_formatted}',
    hideCursor: true, clearOnComplete: true, stream: process.stderr, etaBuffer: 20,
  }, Presets.shades_classic) : undefined;
  let epochBar: SingleBar | undefined;
  let batchBar: SingleBar | undefined;
  const events: TrainEvents = {
    log: (message) => (bars ? bars.log(`${message}\n`) : output.err(message)),
    onEpochStart: (epoch, epochs, steps) => {
      epochBar ??= bars?.create(epochs, epoch, { label: 'epochs', info: '' });
      batchBar?.stop();
      if (batchBar) bars?.remove(batchBar);
      batchBar = bars?.create(steps, 0, { label: `epoch ${epoch}`, info: '' });
    },
    onBatch: (p) => batchBar?.update(p.step, { info: `loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(3)} ${p.imagesPerSecond.toFixed(1)} img/s` }),
    onEvalStart: (epoch, batches) => {
      if (batchBar) bars?.remove(batchBar);
      batchBar = bars?.create(batches, 0, { label: `eval ${epoch}`, info: '' });
    },
    onEvalBatch: (done) => batchBar?.update(done),
    onEpochEnd: (row, info) => {
      epochBar?.update(row.epoch + 1);
      const ema = info.emaUsed ? ` (raw top-1 ${info.raw.top1.toFixed(2)})` : '';
      const line = `epoch ${row.epoch}/${info.epochs - 1}: train_loss ${row.train_loss.toFixed(4)} eval_loss ${row.eval_loss.toFixed(4)} ` +
        `top-1 ${row.eval_top1.toFixed(2)} top-5 ${row.eval_top5.toFixed(2)}${info.emaUsed ? ' [EMA]' : ''}${ema} lr ${row.lr.toExponential(3)} ` +
        `${row.img_per_sec.toFixed(1)} img/s${info.isBest ? colour.green(' *best') : ''}`;
      if (bars) bars.log(`${line}\n`);
      else output.err(line);
    },
  };
  return { events, stop: () => bars?.stop() };
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

export function register(program: Command, output: Output): void {
  const command = program
    .command('train')
    .description('train a model from a YAML recipe (timm train.py keys); every key is also a --kebab-case flag')
    .option('--config <file>', 'YAML config: sets defaults that flags override')
    .option('--json', 'print the result (run directory, rows, best) as JSON')
    .option('--no-progress', 'no progress bars (epoch summaries only)')
    .option(...FORCE_OPTION);
  for (const key of CONFIG_KEYS) {
    const spec = CONFIG_SCHEMA[key];
    const value = typeof spec.defaultValue === 'boolean' ? '[value]' : '<value>';
    const shown = Array.isArray(spec.defaultValue) ? spec.defaultValue.map((v) => Number(v.toPrecision(4))).join(',') : String(spec.defaultValue);
    command.option(`--${kebab(key)} ${value}`, `${spec.help} (default: ${shown === '' ? 'none' : shown})`);
  }
  command.action(async (flags: TrainFlags) => {
    const given = givenFlags(flags);
    // `--model-ema` alone means true.
    for (const [key, raw] of Object.entries(given)) if (raw === true) given[key] = 'true';
    const config = resolveConfig({ file: flags.config, flags: given });
    const backend = await initBackend(config.backend || undefined);
    const replicas = config.replicas === 1 ? '1 replica (main thread)' : `${config.replicas} replicas (worker threads)`;
    output.err(`mnext train: ${config.model} on ${config.data || '(no data)'}, backend ${backend}, ${replicas}`);
    const controller = new AbortController();
    const onSigint = () => {
      output.err('\nInterrupted: finishing the current step and saving a recovery checkpoint (Ctrl-C again to abort now)...');
      process.off('SIGINT', onSigint);
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const progress = progressEvents(output, flags.progress !== false && process.stderr.isTTY === true && !flags.json);
    try {
      const result = await train(config, { events: progress.events, signal: controller.signal, force: flags.force });
      progress.stop();
      if (flags.json) printJson(output, { runDir: result.runDir, best: result.best, lastDir: result.lastDir, bestDir: result.bestDir, curves: result.curves, summary: result.rows });
      else printResult(output, result, config);
    } finally {
      progress.stop();
      process.off('SIGINT', onSigint);
    }
  });
}
