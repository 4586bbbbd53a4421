import type { Command } from 'commander';
import { exportRun } from '../train/export.js';
import { UsageError } from '../errors.js';
import { FORCE_OPTION, examples } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ExportOptions {
  to: string;
  out: string;
  useEma?: boolean;
  force?: boolean;
  json?: boolean;
}

const FORMATS = ['pytorch'] as const;

export function register(program: Command, output: Output): void {
  program
    .command('export')
    .description('export a checkpoint\'s weights for training frameworks (PyTorch state_dict .pth; a run\'s recipe beside it as .yaml)')
    .argument('<model>', 'run directory (its best/), checkpoint directory, or any --model source: fixture .json, .pth')
    .requiredOption('--to <format>', `target format: ${FORMATS.join(' | ')}`)
    .requiredOption('--out <file>', 'file to write (model.pth)')
    .option('--use-ema', 'export the checkpoint\'s EMA weights')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext export output/<run> --to pytorch --out model.pth    # also model.yaml, the run\'s recipe', 'mnext export output/<run>/best --to pytorch --use-ema --out model_ema.pth'))
    .action(async (model: string, opts: ExportOptions) => {
      if (!(FORMATS as readonly string[]).includes(opts.to)) throw new UsageError(`--to: expected one of ${FORMATS.join(', ')}, got '${opts.to}'`);
      const summary = await exportRun(model, opts.out, { useEma: opts.useEma, force: opts.force });
      const { arch, width, numClasses, tensorMultiplier } = summary;
      if (opts.json) return printJson(output, summary);
      output.out(`${colour.green('exported')} ${summary.source}${summary.ema ? ' (EMA)' : ''} → ${summary.out}: PyTorch state_dict of ${arch} ` +
        `width ${width}, ${numClasses} classes${tensorMultiplier > 1 ? `, tensor multiplier ${tensorMultiplier} (build the PyTorch model with identity_div=${tensorMultiplier})` : ''}`);
      output.out(summary.recipe
        ? `${colour.green('recipe')} ${summary.recipe}: continue in PyTorch with mnext_torch.train --config ${summary.recipe} --initial-checkpoint ${summary.out}`
        : `no recipe: ${model} is not a checkpoint of an mnext train run`);
    });
}
