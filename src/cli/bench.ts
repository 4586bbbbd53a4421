import type { Command } from 'commander';
import { registerBench as registerBenchData } from './bench-data.js';
import { registerBenchModel } from './bench-model.js';
import type { Output } from './output.js';

/**
 * `mnext bench <what>`: long measurements. Each subcommand lives in its own module exporting
 * `registerBench(bench, output)`; adding one (bench train, bench infer) is an import and an entry below.
 */
export type BenchRegistrar = (bench: Command, output: Output) => void;

const BENCH_SUBCOMMANDS: readonly BenchRegistrar[] = [
  registerBenchData,
  registerBenchModel,
];

export function register(program: Command, output: Output): void {
  const bench = program.command('bench').description('measure throughput: data loading, training and inference');
  for (const registerBench of BENCH_SUBCOMMANDS) registerBench(bench, output);
}
