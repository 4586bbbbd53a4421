import type { Command } from 'commander';
import { initBackend } from '../backend/index.js';
import { runParity } from '../eval/parity.js';
import { loadFixture } from '../io/fixture.js';
import { loadModelSource } from '../io/model-source.js';
import { CheckFailedError } from '../errors.js';
import { positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ParityOptions {
  backend?: string;
  json?: boolean;
  tolerance: number;
  weights?: string;
  useEma?: boolean;
}

export function register(program: Command, output: Output): void {
  program
    .command('parity')
    .description('run a PyTorch parity fixture (json + weights.bin) and compare with its reference logits')
    .argument('<fixture>', 'fixture .json (the .weights.bin beside it holds weights and input)')
    .option('--backend <name>', 'tensorflow | wasm | cpu (default: best available)')
    .option('--tolerance <x>', 'largest allowed max |Δ| of the logits', positiveNumber, 1e-3)
    .option('--weights <path>', 'use these weights instead of the fixture\'s (.pth, .pth.tar, checkpoint dir)')
    .option('--use-ema', 'with --weights: take the EMA weights of a checkpoint')
    .option('--json', 'machine-readable output')
    .action(async (fixturePath: string, opts: ParityOptions) => {
      const backend = await initBackend(opts.backend);
      const fixture = loadFixture(fixturePath);
      const { spec } = fixture;
      const weights = opts.weights
        ? (await loadModelSource(opts.weights, {
          arch: spec.arch, width: spec.width, numClasses: spec.numClasses, inputSize: spec.inputSize,
          tensorMultiplier: spec.tensorMultiplier, useEma: opts.useEma,
        })).weights
        : fixture.weights;
      const result = runParity(fixture, weights);
      const pass = result.maxAbsDiff <= opts.tolerance && result.foldedMaxAbsDiff <= opts.tolerance && result.argmaxAgree;
      if (opts.json) {
        printJson(output, { ...result, backend, tolerance: opts.tolerance, pass });
      } else {
        const verdict = pass ? colour.green('PASS') : colour.red('FAIL');
        output.out(`${verdict} ${result.model} on ${backend}: max |Δ| ${result.maxAbsDiff.toExponential(2)} ` +
          `(folded BN ${result.foldedMaxAbsDiff.toExponential(2)}; logit scale ${result.logitScale.toFixed(2)}), ` +
          `argmax ${result.argmaxAgree ? 'agrees' : 'DIFFERS'} on ${result.batch} rows, tolerance ${opts.tolerance}`);
      }
      if (!pass) throw new CheckFailedError(`parity failed: max |Δ| ${result.maxAbsDiff.toExponential(2)} > ${opts.tolerance} or argmax differs`);
    });
}
