import type { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { PAPER_WIDTHS } from '../models/registry.js';
import { backendThreads } from '../profile/latency.js';
import { writeLatencyPlot } from '../profile/plot.js';
import { checkOutputPath } from '../util/output-path.js';
import { CHART_PNG } from '../util/png.js';
import { loadModelSource } from '../io/model-source.js';
import { buildGraph } from '../models/registry.js';
import { type ProfileRequest, type ProfileRow, differsFromPaper, profileGraph, profileModels } from '../profile/profile.js';
import { LATENCY_RUNTIMES, type LatencyRuntime } from '../profile/runtimes.js';
import { UsageError } from '../errors.js';
import { FORCE_OPTION, nonNegativeInt, numberList, positiveInt, positiveNumber, stringList } from './options.js';
import { type Output, colour, formatMarkdownTable, formatTable, printJson } from './output.js';

interface ProfileOptions {
  models: string[];
  widths: number[];
  tensorMultiplier?: number[];
  inputSize?: number;
  numClasses?: number;
  batch: number;
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

/** `--model <checkpoint | .pth | fixture | name>`: one row for that model with its own weights and input size. */
async function profileSource(options: ProfileOptions, request: ProfileRequest, backend: string): Promise<ProfileRow[]> {
  const source = await loadModelSource(options.model!, {
    useEma: options.useEma, width: options.width, numClasses: options.numClasses, tensorMultiplier: options.tensorMultiplier?.[0],
  });
  const inputSize = options.inputSize ?? source.spec.inputSize;
  const graph = buildGraph({ ...source.spec, inputSize });
  return [await profileGraph(graph, source.weights, { ...request, inputSize }, backend)];
}

function checkRuntimes(names: readonly string[]): LatencyRuntime[] {
  const unknown = names.filter((n) => !LATENCY_RUNTIMES.includes(n as LatencyRuntime));
  if (unknown.length) throw new UsageError(`--runtime: expected a list of ${LATENCY_RUNTIMES.join(', ')}, got '${unknown.join(',')}'`);
  return names as LatencyRuntime[];
}

const runtimeCell = (row: ProfileRow, runtime: string): string => {
  const r = row.runtimes.find((x) => x.runtime === runtime);
  return r ? `${r.medianMs.toFixed(1)} / ${r.p90Ms.toFixed(1)}` : '-';
};

const millions = (n: number, digits = 2) => (n / 1e6).toFixed(digits);

function rowCells(row: ProfileRow, options: ProfileOptions, showK: boolean): string[] {
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

function headers(options: ProfileOptions, showK: boolean): string[] {
  return [
    'Model', 'Width', ...(showK ? ['k'] : []), 'Params (M)', 'MAdds (M)',
    ...(options.countAll ? ['Elem ops (M)', 'All ops (M)'] : []), 'Paper P/MAdds (M)', 'Latency (ms)',
    ...options.runtime.map((runtime) => `${runtime} ms (p50 / p90)`),
  ];
}

function printTables(output: Output, rows: ProfileRow[], options: ProfileOptions, backend: string): void {
  const showK = rows.some((r) => r.tensorMultiplier !== 1);
  const format = options.markdown ? formatMarkdownTable : formatTable;
  output.out(format(headers(options, showK), rows.map((r) => rowCells(r, options, showK))));
  const latency = options.latency
    ? `latency: backend ${backend}, ${backendThreads()} thread(s), batch ${options.batch}, median of ${options.runs} runs after ${options.warmup} warm-up, BN folded`
    : 'latency: not measured (--no-latency)';
  const runtimeNotes = rows[0]?.runtimes.map((r) => `${r.runtime}: ${r.threads} thread(s), batch ${options.batch}, ${r.runs} runs after ${r.warmup} warm-up, converted file (BN folded)`) ?? [];
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
  program
    .command('profile')
    .description('params, MAdds and latency tables like the paper\'s (MobileNeXt beside MobileNetV2 per width)')
    .option('--models <list>', 'comma-separated model names', stringList, ['mobilenext', 'mobilenetv2'])
    .option('--widths <list>', 'comma-separated width multipliers', numberList(positiveNumber), [...PAPER_WIDTHS])
    .option('--width <w>', 'a single width (same as --widths w)', positiveNumber)
    .option('--tensor-multiplier <list>', 'partial identity divisors k, e.g. 1,2,3,4,6 (default 1)', numberList(positiveInt))
    .option('--input-size <n>', 'square input size (default 224, or the --model\'s)', positiveInt)
    .option('--num-classes <n>', 'classifier outputs (default 1000)', positiveInt)
    .option('--model <path>', 'profile this model instead of the table: checkpoint dir, .pth, fixture .json or model name')
    .option('--use-ema', 'with --model: a checkpoint\'s EMA weights')
    .option('--batch <n>', 'batch size for latency', positiveInt, 1)
    .option('--runs <n>', 'timed forward passes (median reported)', positiveInt, 20)
    .option('--warmup <n>', 'untimed forward passes first', nonNegativeInt, 5)
    .option('--no-latency', 'skip latency measurement')
    .option('--per-block', 'params, MAdds and output shape per block')
    .option('--count-all', 'also count BN / activation / pool / add element ops')
    .option('--backend <name>', 'tensorflow | wasm | cpu (default: best available)')
    .option('--runtime <list>', `also time the converted model in these runtimes: ${LATENCY_RUNTIMES.join(', ')}`, stringList, [])
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', positiveInt)
    .option('--plot <file.png>', 'write a PNG of latency vs MAdds per model family')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output (array of rows)')
    .option('--markdown', 'markdown tables')
    .action(async (options: ProfileOptions) => {
      const resolved = { ...options, widths: options.width !== undefined ? [options.width] : options.widths };
      const backend = await initBackend(options.backend);
      const request: ProfileRequest = {
        models: resolved.models, widths: resolved.widths, tensorMultipliers: resolved.tensorMultiplier ?? [1],
        inputSize: resolved.inputSize ?? 224, numClasses: resolved.numClasses ?? 1000, batch: resolved.batch,
        runs: resolved.runs, warmup: resolved.warmup, latency: resolved.latency,
        runtimes: checkRuntimes(resolved.runtime), threads: resolved.threads,
      };
      if (resolved.plot && !resolved.latency && resolved.runtime.length === 0) throw new UsageError('--plot needs latency: drop --no-latency or add --runtime');
      if (resolved.plot) checkOutputPath(resolved.plot, CHART_PNG, { force: resolved.force });
      const rows = resolved.model
        ? await profileSource(resolved, request, backend)
        : await profileModels(request, backend, (row) => {
          if (resolved.latency) output.err(`profiled ${row.model} w${row.width} k${row.tensorMultiplier}: ${row.latencyMs?.toFixed(1)} ms`);
        });
      if (resolved.plot) {
        await writeLatencyPlot(resolved.plot, plotPoints(rows, backend), `Latency vs MAdds, ${rows[0].inputSize}x${rows[0].inputSize}, batch ${resolved.batch}`, { force: resolved.force });
        output.err(`wrote ${resolved.plot}`);
      }
      if (resolved.json) {
        printJson(output, rows.map(({ blocks, ...row }) => ({ ...row, ...(resolved.perBlock ? { blocks } : {}) })));
        return;
      }
      printTables(output, rows, resolved, backend);
    });
}

/** One series per model family and runtime: the tfjs executor's latency and each --runtime's. */
function plotPoints(rows: readonly ProfileRow[], backend: string) {
  return rows.flatMap((row) => [
    ...(row.latencyMs === null ? [] : [{ series: `${row.model} (tfjs ${backend})`, label: row.width.toFixed(2), madds: row.madds, latencyMs: row.latencyMs }]),
    ...row.runtimes.map((r) => ({ series: `${row.model} (${r.runtime})`, label: row.width.toFixed(2), madds: row.madds, latencyMs: r.medianMs })),
  ]);
}
