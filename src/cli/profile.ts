import type { Command } from 'commander';
import { PAPER_WIDTHS } from '../models/registry.js';
import { backendThreads } from '../backend/index.js';
import { writeLatencyPlot } from '../profile/plot.js';
import { checkOutputPath } from '../util/output-path.js';
import { CHART_PNG } from '../util/png.js';
import { differsFromPaper } from '../profile/profile.js';
import { type ProfileRow, profile } from '../index.js';
import { LATENCY_RUNTIMES } from '../profile/runtimes.js';
import { UsageError } from '../errors.js';
import { FORCE_OPTION, addBatchSize, addImgSize, examples, nonNegativeInt, numberList, positiveInt, positiveNumber, stringList } from './options.js';
import { type Output, colour, formatMarkdownTable, formatTable, printJson } from './output.js';

interface ProfileCliOptions {
  models?: string[];
  widths?: number[];
  tensorMultiplier?: number[];
  imgSize?: number;
  numClasses?: number;
  batchSize: number;
  runs: number;
  warmup: number;
  latency: boolean;
  perBlock?: boolean;
  countAll?: boolean;
  json?: boolean;
  markdown?: boolean;
  backend?: string;
  width?: number;
  runtime: string[];
  threads?: number;
  plot?: string;
  model?: string;
  useEma?: boolean;
  force?: boolean;
}

const runtimeCell = (row: ProfileRow, runtime: string): string => {
  const r = row.runtimes.find((x) => x.runtime === runtime);
  return r ? `${r.medianMs.toFixed(1)} / ${r.p90Ms.toFixed(1)}` : '-';
};

const millions = (n: number, digits = 2) => (n / 1e6).toFixed(digits);

function rowCells(row: ProfileRow, options: ProfileCliOptions, showK: boolean): string[] {
  const paper = row.paper ? `${row.paper.params} / ${row.paper.madds}${differsFromPaper(row) ? ' ≠' : ''}` : '-';
  return [
    row.model,
    row.width.toFixed(2),
    ...(showK ? [String(row.tensorMultiplier)] : []),
    millions(row.params, 3),
    millions(row.madds),
    ...(options.countAll ? [millions(row.elementOps), millions(row.madds + row.elementOps)] : []),
    paper,
    row.latencyMs === null ? '-' : row.latencyMs.toFixed(1),
    ...options.runtime.map((runtime) => runtimeCell(row, runtime)),
  ];
}

function headers(options: ProfileCliOptions, showK: boolean): string[] {
  return [
    'Model', 'Width', ...(showK ? ['k'] : []), 'Params (M)', 'MAdds (M)',
    ...(options.countAll ? ['Elem ops (M)', 'All ops (M)'] : []), 'Paper P/MAdds (M)', 'Latency (ms)',
    ...options.runtime.map((runtime) => `${runtime} ms (p50 / p90)`),
  ];
}

function printTables(output: Output, rows: ProfileRow[], options: ProfileCliOptions, backend: string): void {
  const showK = rows.some((r) => r.tensorMultiplier !== 1);
  const format = options.markdown ? formatMarkdownTable : formatTable;
  output.out(format(headers(options, showK), rows.map((r) => rowCells(r, options, showK))));
  const latency = options.latency
    ? `latency: backend ${backend}, ${backendThreads()} thread(s), batch ${options.batchSize}, median of ${options.runs} runs after ${options.warmup} warm-up, BN folded`
    : 'latency: not measured (--no-latency)';
  const runtimeNotes = rows[0]?.runtimes.map((r) => `${r.runtime}: ${r.threads} thread(s), batch ${options.batchSize}, ${r.runs} runs after ${r.warmup} warm-up, converted file (BN folded)`) ?? [];
  output.out(`\ninput ${rows[0].inputSize}x${rows[0].inputSize}, ${rows[0].numClasses} classes; MAdds = conv + linear multiply-adds` +
    `${options.countAll ? '; elem ops = BN, activation, pool, add and mul element operations' : ''}\n${[latency, ...runtimeNotes].join('\n')}`);
  if (rows.some(differsFromPaper)) output.out(`${colour.yellow('≠')} differs from the paper by more than 5% (see spec: the paper's table does not match its own code)`);
  if (!options.perBlock) return;
  for (const row of rows) {
    output.out(`\n${row.model} w${row.width} k${row.tensorMultiplier} per block:`);
    output.out(format(['Block', 'Params', 'MAdds (M)', ...(options.countAll ? ['Elem ops (M)'] : []), 'Output'],
      row.blocks.map((b) => [b.block, String(b.params), millions(b.madds, 3), ...(options.countAll ? [millions(b.elementOps, 3)] : []), b.outputShape.join('x')])));
  }
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('profile')
    .description('params, MAdds and latency tables like the paper\'s (MobileNeXt beside MobileNetV2 per width)')
    .option('--models <list>', 'comma-separated model names (default: mobilenext,mobilenetv2)', stringList)
    .option('--widths <list>', `comma-separated width multipliers (default: ${PAPER_WIDTHS.join(',')})`, numberList(positiveNumber))
    .option('--width <w>', 'a single width (same as --widths w)', positiveNumber)
    .option('--tensor-multiplier <list>', 'partial identity divisors k, e.g. 1,2,3,4,6 (default: 1)', numberList(positiveInt));
  addImgSize(command, 'square input size (default: 224, or the --model\'s)')
    .option('--num-classes <n>', 'classifier outputs (default: 1000, or the --model\'s)', positiveInt)
    .option('--model <path>', 'profile this model instead of the table: checkpoint dir, .pth, fixture .json or model name')
    .option('--use-ema', 'with --model: a checkpoint\'s EMA weights');
  addBatchSize(command, 1, 'images per latency run')
    .option('--runs <n>', 'timed forward passes (median reported)', positiveInt, 20)
    .option('--warmup <n>', 'untimed forward passes first', nonNegativeInt, 5)
    .option('--no-latency', 'skip latency measurement')
    .option('--per-block', 'params, MAdds and output shape per block')
    .option('--count-all', 'also count BN / activation / pool / add element ops')
    .option('--backend <name>', 'tensorflow | wasm | cpu (default: the first that loads)')
    .option('--runtime <list>', `also time the converted model in these runtimes: ${LATENCY_RUNTIMES.join(', ')}`, stringList, [])
    .option('--threads <n>', 'intra-op threads of onnxruntime and the tfjs wasm backend (default: all cores)', positiveInt)
    .option('--plot <file.png>', 'write a PNG of latency vs MAdds per model family')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output (array of rows)')
    .option('--markdown', 'markdown tables');
  command.addHelpText('after', examples(
    'mnext profile --width 0.75',
    'mnext profile --models mobilenext --tensor-multiplier 1,2,3,4,6 --no-latency --markdown',
    'mnext profile --model output/<run>/best --runtime onnx,tflite --json'));
  command.action(async (options: ProfileCliOptions) => {
    if (options.plot && !options.latency && options.runtime.length === 0) throw new UsageError('--plot needs latency: drop --no-latency or add --runtime');
    if (options.plot) checkOutputPath(options.plot, CHART_PNG, { force: options.force });
    const rows = await profile({
      models: options.models, widths: options.width !== undefined ? [options.width] : options.widths, tensorMultipliers: options.tensorMultiplier,
      inputSize: options.imgSize, numClasses: options.numClasses, batch: options.batchSize, runs: options.runs, warmup: options.warmup,
      latency: options.latency, runtimes: options.runtime, threads: options.threads, model: options.model, useEma: options.useEma, backend: options.backend,
      onRow: (row) => {
        if (options.latency) output.err(`profiled ${row.model} w${row.width} k${row.tensorMultiplier}: ${row.latencyMs?.toFixed(1)} ms`);
      },
    });
    const backend = rows[0].backend;
    if (options.plot) {
      await writeLatencyPlot(options.plot, plotPoints(rows, backend), `Latency vs MAdds, ${rows[0].inputSize}x${rows[0].inputSize}, batch ${options.batchSize}`, { force: options.force });
      output.err(`wrote ${options.plot}`);
    }
    if (options.json) {
      printJson(output, rows.map(({ blocks, ...row }) => ({ ...row, ...(options.perBlock ? { blocks } : {}) })));
      return;
    }
    printTables(output, rows, options, backend);
  });
}

/** One series per model family and runtime: the tfjs executor's latency and each --runtime's. */
function plotPoints(rows: readonly ProfileRow[], backend: string) {
  return rows.flatMap((row) => [
    ...(row.latencyMs === null ? [] : [{ series: `${row.model} (tfjs ${backend})`, label: row.width.toFixed(2), madds: row.madds, latencyMs: row.latencyMs }]),
    ...row.runtimes.map((r) => ({ series: `${row.model} (${r.runtime})`, label: row.width.toFixed(2), madds: row.madds, latencyMs: r.medianMs })),
  ]);
}
