import type { Command } from 'commander';
import { type ImportOptions, importCheckpoint } from '../io/torch/import.js';
import { FORCE_OPTION, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ImportCliOptions extends ImportOptions {
  json?: boolean;
}

export function register(program: Command, output: Output): void {
  program
    .command('import')
    .description('import PyTorch weights (.pth / .pth.tar / .pt: state_dict or training checkpoint) as an mnext checkpoint')
    .argument('<file>', 'torch.save file (zip or legacy format)')
    .option('--arch <name>', 'architecture the weights belong to (PyTorch files do not record it)', 'mobilenext')
    .option('--width <w>', 'width multiplier (default 1.0)', positiveNumber)
    .option('--num-classes <n>', 'classes (default: read from the classifier weight)', positiveInt)
    .option('--input-size <px>', 'input side length recorded with the model (default 224)', positiveInt)
    .option('--tensor-multiplier <k>', 'MobileNeXt partial identity divisor used in training (not stored in .pth files)', positiveInt)
    .option('--use-ema', 'take the EMA weights (state_dict_ema) of a training checkpoint')
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output')
    .action((file: string, opts: ImportCliOptions) => {
      const summary = importCheckpoint(file, opts);
      if (opts.json) return printJson(output, summary);
      const epoch = summary.info.epoch !== undefined ? `, epoch ${summary.info.epoch}` : '';
      output.out(`${colour.green('imported')} ${summary.source} (${summary.format} torch.save, ${summary.entry}${epoch}) → ${summary.out}: ` +
        `${summary.arch} width ${summary.width}, ${summary.numClasses} classes, tensor multiplier ${summary.tensorMultiplier}, ` +
        `${(summary.params / 1e6).toFixed(3)} M params${summary.ema ? ', EMA weights kept as ema.bin' : ''}`);
    });
}
