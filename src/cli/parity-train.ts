import type { Command } from 'commander';
import { CheckFailedError, UsageError } from '../errors.js';
import { DEFAULT_PARITY_FACTOR, type DifferenceFromWasm, PARITY_VARIANTS, type ParityVariant, type TrainParityReport, type VariantParity, reportParity, trainParity } from '../index.js';
import { examples, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';
import { type Progress, startProgress } from './progress.js';
import { addConfigOptions, givenFlags } from './train.js';

type ParityTrainFlags = Record<string, unknown> & {
  config?: string; steps?: number; out: string; report?: boolean; batches?: string; variants: string; twin: boolean; python?: string;
  factor: number; window?: number; json?: boolean; progress?: boolean;
};

function variantsOf(list: string): ParityVariant[] {
  if (list === 'all') return [...PARITY_VARIANTS];
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.find((n) => !PARITY_VARIANTS.includes(n as ParityVariant));
  if (unknown !== undefined) throw new UsageError(`--variants: expected 'all' or some of ${PARITY_VARIANTS.join(', ')}, got '${unknown}'`);
  return names as ParityVariant[];
}

const exp = (x: number) => x.toExponential(2);

function fromWasmText(d: DifferenceFromWasm): string {
  return d.identical ? 'bit for bit identical (every loss and every tensor)' : `max |Δloss| ${exp(d.maxLossDiff)}; ${d.differing} of ${d.tensors} tensors differ, by ${exp(d.medianRelativeDiff)} (median relative difference)`;
}

function variantLines(v: VariantParity): string[] {
  const verdict = v.outside === undefined ? 'yardstick' : v.outside.length === 0 ? colour.green('within bound') : colour.red('OUTSIDE bound');
  const toTwin = v.variant === 'twin' ? '' : `, max |Δloss| to PyTorch float32 ${exp(v.maxLossDiffToTwin)}`;
  const threads = v.threads === undefined ? '' : `, ${v.threads} thread${v.threads === 1 ? '' : 's'}`;
  const lines = [
    `${v.variant.padEnd(22)} ${verdict}  max |Δloss| ${exp(v.maxLossDiff)}${toTwin}; mean |Δloss| per window ${v.windows.map(exp).join(' ')}  (${v.seconds.toFixed(1)} s${threads})`,
    ...(v.fromWasm ? [`    against wasm: ${fromWasmText(v.fromWasm)}`] : []),
    ...v.groups.map((g) => `    ${g.group.padEnd(18)} ${String(g.tensors).padStart(4)} tensors  relative diff median ${exp(g.median)} max ${exp(g.max)} (${g.worst}); norm change median ${exp(g.normChange)}`),
  ];
  for (const reason of v.outside ?? []) lines.push(`    ${colour.red('!')} ${reason}`);
  return lines;
}

function printReport(output: Output, report: TrainParityReport): void {
  if (report.twin === undefined) {
    output.out(`${report.model}: batches and mnext's runs in ${report.out}; the twin's side: PYTHONPATH=python python3 -m mnext_torch.replay ${report.out} (and again with --dtype float64)`);
    return;
  }
  output.out(`${report.model}, ${report.steps} steps of ${report.batchSize} at ${report.imageSize} px, batches from ${report.batchesFrom}; ` +
    `PyTorch float64 loss first ${report.referenceLosses[0]?.toFixed(4)} last ${report.referenceLosses.at(-1)?.toFixed(4)}; ` +
    `drift from float64 in windows of ${report.window} steps; bound ${report.factor}x PyTorch float32's drift`);
  for (const v of [report.twin, ...report.variants]) for (const line of variantLines(v)) output.out(line);
  output.out(`Folder: ${report.out}`);
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('parity-train')
    .description('train the same model from the same weights on the same batches in mnext and in the PyTorch twin, step by step, and compare')
    .option('--config <file|recipe>', 'YAML config or bundled recipe (every key is also a flag, as in train)')
    .option('--steps <n>', 'optimiser steps on each side', positiveInt)
    .requiredOption('--out <dir>', 'a new folder: batches, initial weights, each side\'s end state')
    .option('--report', 'only compare what an earlier run (and the twin run by hand) left in --out')
    .option('--batches <dir>', 'replay these recorded batches (images.npy, labels.npy, batches.json) instead of mnext\'s loader')
    .option('--variants <list>', `mnext runs to compare: 'all' or some of ${PARITY_VARIANTS.join(', ')}`, 'wasm')
    .option('--no-twin', 'prepare the folder and run mnext only (then: python3 -m mnext_torch.replay OUT)')
    .option('--python <path>', 'python3 with torch for the twin (default: $MNEXT_PYTHON, else python3)')
    .option('--factor <x>', 'a variant may drift from PyTorch float64 this many times as far as PyTorch float32 does', positiveNumber, DEFAULT_PARITY_FACTOR)
    .option('--window <n>', 'steps per window of mean |Δloss| (default: a tenth of the steps)', positiveInt)
    .option('--json', 'the whole report (per-step losses too) as JSON')
    .option('--no-progress', 'no progress bars');
  addConfigOptions(command);
  command.addHelpText('after', examples(
    'mnext parity-train --config configs/fashion_mnist.yaml --data data/fashion-mnist --steps 300 --out parity/mnext100',
    'mnext parity-train --config configs/fashion_mnist.yaml --width 0.5 --steps 300 --variants all --out parity/sweep',
    'python3 -m mnext_torch.replay record --config configs/fashion_mnist.yaml --steps 300 --out tv-batches   # PYTHONPATH=python',
    'mnext parity-train --config configs/fashion_mnist.yaml --batches tv-batches --steps 300 --out parity/torchvision',
    'mnext parity-train --out parity/mnext100 --report --factor 3'));
  command.action(async (flags: ParityTrainFlags) => {
    if (flags.report) {
      finish(output, reportParity(flags.out, { factor: flags.factor, window: flags.window }), flags.json);
      return;
    }
    if (flags.steps === undefined) throw new UsageError('--steps: expected a positive integer (how many optimiser steps to compare)');
    const bars = flags.progress !== false && process.stderr.isTTY === true && !flags.json;
    let progress: Progress | undefined;
    let side = '';
    const report = await trainParity(flags.config ?? {}, {
      overrides: givenFlags(flags), steps: flags.steps, out: flags.out, batches: flags.batches, variants: variantsOf(flags.variants),
      twin: flags.twin, python: flags.python, factor: flags.factor, window: flags.window,
      events: {
        log: (message) => (progress ? progress.log(message) : output.err(message)),
        onStep: (name, step, steps, loss) => {
          if (name !== side) {
            progress?.stop();
            side = name;
            progress = startProgress({ label: name, total: steps, unit: 'steps', output, enabled: bars, transient: true });
          }
          progress?.update(step, Number.isNaN(loss) ? {} : { loss: loss.toFixed(4) });
        },
      },
    }).finally(() => progress?.stop());
    finish(output, report, flags.json);
  });
}

/** Prints the report; a variant outside the bound is a failed check (exit 1). */
function finish(output: Output, report: TrainParityReport, json: boolean | undefined): void {
  if (json) printJson(output, report);
  else printReport(output, report);
  if (report.pass === false) throw new CheckFailedError(`training parity: ${report.variants.filter((v) => v.outside?.length).map((v) => v.variant).join(', ')} outside ${report.factor}x PyTorch float32's drift`);
}
