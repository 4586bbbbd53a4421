import type { Command } from 'commander';
import { buildGraph, listFamilies, listModelNames, resolveModelSpec } from '../models/registry.js';
import { countModel } from '../models/count.js';
import { type Output, formatTable, printJson } from './output.js';

export interface ModelListing {
  name: string;
  arch: string;
  width: number;
  numClasses: number;
  inputSize: number;
  tensorMultiplier: number;
  params: number;
  madds: number;
  description: string;
}

export function listModels(): ModelListing[] {
  const descriptions = new Map(listFamilies().map((f) => [f.arch, f.description]));
  return listModelNames().map((name) => {
    const spec = resolveModelSpec(name);
    const stats = countModel(buildGraph(spec));
    return { name, ...spec, params: stats.params, madds: stats.madds, description: descriptions.get(spec.arch) ?? '' };
  }).map(({ name, arch, width, numClasses, inputSize, tensorMultiplier, params, madds, description }) =>
    ({ name, arch, width, numClasses, inputSize, tensorMultiplier, params, madds, description }));
}

export function register(program: Command, output: Output): void {
  program
    .command('models')
    .description('list the registered models with their defaults, params and MAdds')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const models = listModels();
      if (opts.json) return printJson(output, models);
      output.out(formatTable(
        ['Name', 'Width', 'Classes', 'Input', 'Params (M)', 'MAdds (M)', 'Description'],
        models.map((m) => [m.name, m.width.toFixed(2), String(m.numClasses), String(m.inputSize),
          (m.params / 1e6).toFixed(3), (m.madds / 1e6).toFixed(2), m.description]),
      ));
      output.out('\nFamily names (mobilenext, mobilenetv2) take any --width; every model takes --num-classes, --input-size and --tensor-multiplier.');
    });
}
