import type { Command } from 'commander';
import { describeModels } from '../index.js';
import { examples } from './options.js';
import { type Output, formatTable, printJson } from './output.js';

export function register(program: Command, output: Output): void {
  program
    .command('models')
    .description('list the registered models with their defaults, params and MAdds')
    .argument('[pattern]', 'only names matching this wildcard pattern, e.g. \'mobilenext*\' or \'*_075\'')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext models', 'mnext models \'mobilenetv2*\' --json'))
    .action((pattern: string | undefined, opts: { json?: boolean }) => {
      const models = describeModels(pattern);
      if (opts.json) return printJson(output, models);
      output.out(formatTable(
        ['Name', 'Width', 'Classes', 'Input', 'Params (M)', 'MAdds (M)', 'Description'],
        models.map((m) => [m.name, m.width.toFixed(2), String(m.numClasses), String(m.inputSize),
          (m.params / 1e6).toFixed(3), (m.madds / 1e6).toFixed(2), m.description]),
      ));
      output.out('\nFamily names (mobilenext, mobilenetv2) take any --width; every model takes --num-classes, --img-size and --tensor-multiplier.');
    });
}
