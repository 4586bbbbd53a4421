import { type Command, Option } from 'commander';
import { type ImportOptions, importCheckpoint } from '../io/torch/import.js';
import { FORCE_OPTION, aliasOf, examples, positiveInt, positiveNumber } from './options.js';
import { type Output, colour, printJson } from './output.js';

interface ImportCliOptions extends Omit<ImportOptions, 'inputSize'> {
  imgSize?: number;
  json?: boolean;
}

const imgSize = new Option('--img-size <px>', 'input side length recorded with the model (default: 224)').argParser(positiveInt);

export function register(program: Command, output: Output): void {
  program
    .command('import')
    .description('import PyTorch weights (.pth / .pth.tar / .pt: state_dict or training checkpoint) as an mnext checkpoint')
    .argument('<file>', 'torch.save file (zip or legacy format)')
    .option('--arch <name>', 'architecture the weights belong to (default: the one an mnext_torch.train checkpoint records, else mobilenext)')
    .option('--width <w>', 'width multiplier (default: the checkpoint\'s, else 1.0)', positiveNumber)
    .option('--num-classes <n>', 'classes (default: read from the classifier weight)', positiveInt)
    .addOption(imgSize)
    .addOption(aliasOf('--input-size', imgSize))
    .option('--tensor-multiplier <k>', 'MobileNeXt partial identity divisor used in training (default: the checkpoint\'s; other .pth files do not store it)', positiveInt)
    .option('--use-ema', 'take the EMA weights (state_dict_ema) of a training checkpoint')
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext import mobilenext_100.pth.tar --arch mobilenext --width 1.0 --out checkpoints/mnext_100',
      'mnext import model_best.pth.tar --arch mobilenetv2 --use-ema --num-classes 10 --out checkpoints/mbv2_ema'))
    .action((file: string, { imgSize: inputSize, ...opts }: ImportCliOptions) => {
      const summary = importCheckpoint(file, { ...opts, inputSize });
      if (opts.json) return printJson(output, summary);
      const epoch = summary.info.epoch !== undefined ? `, epoch ${summary.info.epoch}` : '';
      output.out(`${colour.green('imported')} ${summary.source} (${summary.format} torch.save, ${summary.entry}${epoch}) → ${summary.out}: ` +
        `${summary.arch} width ${summary.width}, ${summary.numClasses} classes, tensor multiplier ${summary.tensorMultiplier}, ` +
        `${(summary.params / 1e6).toFixed(3)} M params${summary.ema ? ', EMA weights kept as ema.bin' : ''}`);
    });
}
