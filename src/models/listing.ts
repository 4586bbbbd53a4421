import { countModel } from './count.js';
import { buildGraph, listFamilies, listModelNames, resolveModelSpec } from './registry.js';

/** A registered model with its defaults and size, as `mnext models` lists it. */
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

/** Every registered model (or those matching `pattern`, as listModels takes it) with params and MAdds. */
export function describeModels(pattern?: string): ModelListing[] {
  const descriptions = new Map(listFamilies().map((f) => [f.arch, f.description]));
  return listModelNames(pattern).map((name) => {
    const spec = resolveModelSpec(name);
    const { arch, width, numClasses, inputSize, tensorMultiplier } = spec;
    const stats = countModel(buildGraph(spec));
    return { name, arch, width, numClasses, inputSize, tensorMultiplier, params: stats.params, madds: stats.madds, description: descriptions.get(arch) ?? '' };
  });
}
