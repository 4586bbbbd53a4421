import { InputError } from '../errors.js';
import { type NamedArray, type StateDict, sizeOf } from './state-dict.js';
import { Rng } from '../util/random.js';
import { type ModelGraph, type ParamInfo, classifierOf } from './graph.js';

function initArray(p: ParamInfo, rng: Rng): Float32Array {
  const data = new Float32Array(sizeOf(p.shape));
  const init = p.init;
  for (let i = 0; i < data.length; i += 1) {
    if (init.kind === 'const') data[i] = init.value;
    else if (init.kind === 'normal') data[i] = rng.normal() * init.std;
    else data[i] = rng.uniform(-init.bound, init.bound);
  }
  return data;
}

/** Fresh weights as the reference code initialises them, reproducible from the seed. */
/** The class count the weights' classifier has (read off the description's last linear layer), if present. */
export function classifierClasses(graph: ModelGraph, weights: StateDict): number | undefined {
  const classifier = classifierOf(graph);
  return classifier && weights.get(`${classifier.param}.weight`)?.shape[0];
}

export function initStateDict(graph: ModelGraph, seed = 42): StateDict {
  const rng = new Rng(seed);
  return new Map(graph.params.map((p) => [p.name, { shape: [...p.shape], data: initArray(p, rng) }]));
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Checks a state_dict against the model description: every key present with the right shape, no extras.
 * One error lists missing, unexpected and wrongly shaped keys, with a hint when width or classes look off.
 */
export function checkStateDict(graph: ModelGraph, weights: StateDict, source = 'weights'): void {
  const expected = new Map(graph.params.map((p) => [p.name, p]));
  const missing = [...expected.keys()].filter((k) => !weights.has(k));
  const unexpected = [...weights.keys()].filter((k) => !expected.has(k));
  const wrong = [...expected.values()]
    .filter((p) => weights.has(p.name) && !sameShape(weights.get(p.name)!.shape, p.shape))
    .map((p) => `${p.name} [${weights.get(p.name)!.shape.join(',')}] vs model [${p.shape.join(',')}]`);
  if (missing.length + unexpected.length + wrong.length === 0) return;
  const list = (label: string, items: string[]) =>
    items.length ? ` ${label} (${items.length}): ${items.slice(0, 8).join(', ')}${items.length > 8 ? ', ...' : ''}.` : '';
  const spec = graph.spec;
  let hint = '';
  const fc = [...weights.entries()].find(([k]) => /(classifier\.1|_fc)\.weight$/.test(k))?.[1];
  if (fc && fc.shape[0] !== spec.numClasses) hint = ` Hint: the weights have ${fc.shape[0]} classes, the model ${spec.numClasses} (--num-classes).`;
  else if (wrong.length) hint = ` Hint: the channel counts differ; check --width (model has ${spec.width}) and the architecture.`;
  throw new InputError(
    `${source} do not match ${spec.arch} width ${spec.width} with ${spec.numClasses} classes:` +
      `${list('missing', missing)}${list('unexpected', unexpected)}${list('wrong shape', wrong)}${hint}`,
  );
}

/** Keeps only the entries the model uses (drops num_batches_tracked and the like) after checking them. */
export function selectModelWeights(graph: ModelGraph, weights: StateDict, source?: string): StateDict {
  const filtered: StateDict = new Map<string, NamedArray>(
    [...weights.entries()].filter(([k]) => !k.endsWith('num_batches_tracked')),
  );
  checkStateDict(graph, filtered, source);
  return new Map(graph.params.map((p) => [p.name, filtered.get(p.name)!]));
}
