import type { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { PAPER_WIDTHS } from '../models/registry.js';
import { backendThreads } from '../profile/latency.js';
import { type ProfileRequest, type ProfileRow, differsFromPaper, profileModels } from '../profile/profile.js';
import { nonNegativeInt, numberList, positiveInt, positiveNumber, stringList } from './options.js';
import { type Output, colour, formatMarkdownTable, formatTable, printJson } from './output.js';

interface ProfileOptions {
  models: string[];
  widths: number[];
  tensorMultiplier: number[];
  inputSize: number;
  numClasses: number;
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
}

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
  ];
}

function headers(options: ProfileOptions, showK: boolean): string[] {
  return [
    'Model', 'Width', ...(showK ? ['k'] : []), 'Params (M)', 'MAdds (M)',
    ...(options.countAll ? ['Elem ops (M)', 'All ops (M)'] : []), 'Paper P/MAdds (M)', 'Latency (ms)',
  ];
}

function printTables(output: Output, rows: ProfileRow[], options: ProfileOptions, backend: string): void {
  const showK = rows.some((r) => r.tensorMultiplier !== 1);
  const format = options.markdown ? formatMarkdownTable : formatTable;
  output.out(format(headers(options, showK), rows.map((r) => rowCells(r, options, showK))));
  const latency = options.latency
    ? `latency: backend ${backend}, ${backendThreads()} thread(s), batch ${options.batch}, median of ${options.runs} runs after ${options.warmup} warm-up, BN folded`
    : 'latency: not measured (--no-latency)';
  output.out(`\ninput ${options.inputSize}x${options.inputSize}, ${options.numClasses} classes; MAdds = conv + linear multiply-adds` +
    `${options.countAll ? '; elem ops = BN, activation, pool, add and mul element operations' : ''}\n${latency}`);
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
    .option('--tensor-multiplier <list>', 'partial identity divisors k, e.g. 1,2,3,4,6', numberList(positiveInt), [1])
    .option('--input-size <n>', 'square input size', positiveInt, 224)
    .option('--num-classes <n>', 'classifier outputs', positiveInt, 1000)
    .option('--batch <n>', 'batch size for latency', positiveInt, 1)
    .option('--runs <n>', 'timed forward passes (median reported)', positiveInt, 20)
    .option('--warmup <n>', 'untimed forward passes first', nonNegativeInt, 5)
    .option('--no-latency', 'skip latency measurement')
    .option('--per-block', 'params, MAdds and output shape per block')
    .option('--count-all', 'also count BN / activation / pool / add element ops')
    .option('--backend <name>', 'tensorflow | wasm | cpu (default: best available)')
    .option('--json', 'machine-readable output (array of rows)')
    .option('--markdown', 'markdown tables')
    .action(async (options: ProfileOptions) => {
      const resolved = { ...options, widths: options.width !== undefined ? [options.width] : options.widths };
      const backend = await initBackend(options.backend);
      const request: ProfileRequest = {
        models: resolved.models, widths: resolved.widths, tensorMultipliers: resolved.tensorMultiplier,
        inputSize: resolved.inputSize, numClasses: resolved.numClasses, batch: resolved.batch,
        runs: resolved.runs, warmup: resolved.warmup, latency: resolved.latency,
      };
      const rows = await profileModels(request, backend, (row) => {
        if (resolved.latency) output.err(`profiled ${row.model} w${row.width} k${row.tensorMultiplier}: ${row.latencyMs?.toFixed(1)} ms`);
      });
      if (resolved.json) {
        printJson(output, rows.map(({ blocks, ...row }) => ({ ...row, ...(resolved.perBlock ? { blocks } : {}) })));
        return;
      }
      printTables(output, rows, resolved, backend);
    });
}
