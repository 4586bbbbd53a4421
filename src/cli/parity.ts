import type { Command } from 'commander';
import { DEFAULT_PARITY_TOLERANCE } from '../eval/parity.js';
import { parity } from '../index.js';
import { CheckFailedError } from '../errors.js';
import { examples, positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ParityCliOptions {
  backend?: string;
  json?: boolean;
  tolerance: number;
  weights?: string;
  useEma?: boolean;
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('parity')
    .description('run a PyTorch parity fixture (json + weights.bin) and compare with its reference logits')
    .argument('<fixture>', 'fixture .json (the .weights.bin beside it holds weights and input)')
    .option('--backend <name>', 'tensorflow | wasm | cpu (default: the first that loads)')
    .option('--tolerance <x>', 'largest allowed max |Δ| of the logits', positiveNumber, DEFAULT_PARITY_TOLERANCE)
    .option('--weights <path>', 'use these weights instead of the fixture\'s (.pth, .pth.tar, checkpoint dir)')
    .option('--use-ema', 'with --weights: take the EMA weights of a checkpoint')
    .option('--json', 'machine-readable output');
  command.addHelpText('after', examples(
    'mnext parity fixtures/mnext_050_64_c10.json',
    'mnext parity fixtures/mnext_100_224_c1000.json --weights mnext.pth.tar --use-ema --backend cpu'));
  command.action(async (fixturePath: string, opts: ParityCliOptions) => {
    const result = await parity(fixturePath, { backend: opts.backend, tolerance: opts.tolerance, weights: opts.weights, useEma: opts.useEma });
    if (opts.json) {
      printJson(output, result);
    } else {
      const verdict = result.pass ? colour.green('PASS') : colour.red('FAIL');
      output.out(`${verdict} ${result.model} on ${result.backend}: max |Δ| ${result.maxAbsDiff.toExponential(2)} ` +
        `(folded BN ${result.foldedMaxAbsDiff.toExponential(2)}; logit scale ${result.logitScale.toFixed(2)}), ` +
        `argmax ${result.argmaxAgree ? 'agrees' : 'DIFFERS'} on ${result.batch} rows, tolerance ${result.tolerance}`);
    }
    if (!result.pass) throw new CheckFailedError(`parity failed: max |Δ| ${result.maxAbsDiff.toExponential(2)} > ${result.tolerance} or argmax differs`);
  });
}
