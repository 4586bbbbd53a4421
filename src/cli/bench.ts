import type { Command } from 'commander';
import { registerBenchModel } from './bench-model.js';
import type { Output } from './output.js';

/** Each adds its subcommands to `mnext bench` (train/infer here; data loading is another module's). */
const SUBCOMMANDS: readonly ((bench: Command, output: Output) => void)[] = [registerBenchModel];

export function register(program: Command, output: Output): void {
  const bench = program.command('bench').description('measure throughput: training, inference, data loading');
  for (const add of SUBCOMMANDS) add(bench, output);
}
