/**
 * The optimisers of timm's optim factory as the official runs used them (spec §4.3): SGD with (Nesterov)
 * momentum in PyTorch's form, RMSpropTF (TF-style: squares start at 1, ε inside the sqrt, lr folded into the
 * momentum), and AdamW. Weight decay is coupled L2 (g += wd·p) for SGD and RMSpropTF, decoupled for AdamW, and
 * never applied to 1-D parameters or biases (`ParamInfo.decay`, timm's add_weight_decay groups).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SGD_MOMENTUM, type SgdMomentumAttrs } from '../backend/wasm/SgdMomentum.js';
import type { StateDict } from '../models/state-dict.js';
import type { TfjsModel } from '../models/executor.js';
import type { Optimizer } from './step.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'nesterov', 'rmsproptf', 'adamw'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export interface OptimizerOptions {
  readonly opt: OptimizerName;
  readonly momentum: number;
  readonly weightDecay: number;
  /** ε of RMSpropTF / AdamW (timm's --opt-eps; train.py passes 1e-8 unless a script sets it). */
  readonly eps: number;
  /** RMSpropTF's α (decay of the squared-gradient average). */
  readonly alpha?: number;
  readonly betas?: readonly [number, number];
}

interface Slot {
  readonly param: tf.Variable;
  readonly decay: number;
  readonly buffers: Map<string, tf.Variable>;
}

/**
 * Shared bookkeeping: one entry per trainable parameter with its decay and named slot buffers (TF layout), the
 * step counter, and the state-dict round trip. Subclasses write the per-parameter update rule.
 */
abstract class SlotOptimizer implements Optimizer {
  protected readonly slots = new Map<string, Slot>();
  protected step = 0;

  constructor(model: TfjsModel, weightDecay: number, slotNames: readonly string[], initial: number) {
    const decays = new Map(model.graph.params.map((p) => [p.name, p.decay]));
    for (const [name, param] of model.trainableByName()) {
      // tf.variable shares the fill's data; the tidy drops the fill's own reference so dispose() frees it all.
      const buffers = new Map(slotNames.map((s) => [s, tf.tidy(() => tf.variable(tf.fill(param.shape, s === 'square_avg' ? initial : 0), false))]));
      this.slots.set(name, { param, decay: decays.get(name) ? weightDecay : 0, buffers });
    }
  }

  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    for (const [name, slot] of this.slots) {
      const grad = grads.get(name);
      if (grad) tf.tidy(() => this.update(slot, grad, lr));
    }
  }

  /** Assigns the new parameter and slot values for one parameter (runs inside a tidy). */
  protected abstract update(slot: Slot, grad: tf.Tensor, lr: number): void;

  stateDict(): StateDict {
    const state: StateDict = new Map([['step', { shape: [1], data: Float32Array.of(this.step) }]]);
    for (const [name, slot] of this.slots) {
      for (const [slotName, buffer] of slot.buffers) {
        state.set(`${slotName}/${name}`, { shape: [...buffer.shape], data: buffer.dataSync() as Float32Array });
      }
    }
    return state;
  }

  loadStateDict(state: StateDict): void {
    this.step = state.get('step')?.data[0] ?? 0;
    for (const [name, slot] of this.slots) {
      for (const [slotName, buffer] of slot.buffers) {
        const saved = state.get(`${slotName}/${name}`);
        if (!saved || saved.data.length !== buffer.size) throw new Error(`optimizer state has no ${slotName} for ${name} of shape [${buffer.shape}]`);
        tf.tidy(() => buffer.assign(tf.tensor(saved.data, buffer.shape)));
      }
    }
  }

  dispose(): void {
    for (const slot of this.slots.values()) for (const b of slot.buffers.values()) b.dispose();
    this.slots.clear();
  }
}

/** g + wd·p (coupled L2), or g when the parameter is not decayed. */
function withDecay(grad: tf.Tensor, slot: Slot): tf.Tensor {
  return slot.decay > 0 ? tf.add(grad, tf.mul(slot.param, slot.decay)) : grad;
}

/** torch.optim.SGD: b ← μb + g; step g + μb (Nesterov) or b; p ← p − lr·step. Momentum 0 is plain SGD. */
export class Sgd extends SlotOptimizer {
  constructor(model: TfjsModel, private readonly momentum: number, weightDecay: number, private readonly nesterov: boolean) {
    super(model, weightDecay, momentum > 0 ? ['momentum_buffer'] : [], 0);
  }

  protected update(slot: Slot, grad: tf.Tensor, lr: number): void {
    const buffer = slot.buffers.get('momentum_buffer');
    if (buffer && tf.getKernel(SGD_MOMENTUM, tf.getBackend()) && grad.dtype === 'float32') {
      // One fused pass where the backend has it (wasm), the same arithmetic as below.
      const attrs: SgdMomentumAttrs = { lr, momentum: this.momentum, decay: slot.decay, nesterov: this.nesterov };
      const [param, next] = tf.engine().runKernel(SGD_MOMENTUM, { param: slot.param, grad, buffer }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      buffer.assign(next);
      slot.param.assign(param);
      return;
    }
    const g = withDecay(grad, slot);
    let direction = g;
    if (buffer) {
      // PyTorch seeds the buffer with g on the first step; μ·0 + g is the same value.
      const next = tf.add(tf.mul(buffer, this.momentum), g);
      buffer.assign(next);
      direction = this.nesterov ? tf.add(g, tf.mul(next, this.momentum)) : next;
    }
    slot.param.assign(tf.sub(slot.param, tf.mul(direction, lr)));
  }
}

/**
 * timm's RMSpropTF (lr_in_momentum, not centred, coupled decay), spec §4.3: v ← v + (1−α)(g² − v) from v = 1;
 * b ← μb + lr·g/sqrt(v + ε); p ← p − b. An lr change only scales new contributions to b.
 */
export class RmsPropTf extends SlotOptimizer {
  constructor(model: TfjsModel, private readonly alpha: number, private readonly eps: number, private readonly momentum: number, weightDecay: number) {
    super(model, weightDecay, momentum > 0 ? ['square_avg', 'momentum_buffer'] : ['square_avg'], 1);
  }

  protected update(slot: Slot, grad: tf.Tensor, lr: number): void {
    const g = withDecay(grad, slot);
    const square = slot.buffers.get('square_avg')!;
    const v = tf.add(square, tf.mul(tf.sub(tf.square(g), square), 1 - this.alpha));
    square.assign(v);
    const scaled = tf.div(g, tf.sqrt(tf.add(v, this.eps)));
    if (this.momentum > 0) {
      const buffer = slot.buffers.get('momentum_buffer')!;
      const next = tf.add(tf.mul(buffer, this.momentum), tf.mul(scaled, lr));
      buffer.assign(next);
      slot.param.assign(tf.sub(slot.param, next));
    } else {
      slot.param.assign(tf.sub(slot.param, tf.mul(scaled, lr)));
    }
  }
}

/** torch.optim.AdamW: p ← p(1 − lr·wd); bias-corrected m, v; p ← p − lr·m̂/(sqrt(v̂) + ε). */
export class AdamW extends SlotOptimizer {
  constructor(model: TfjsModel, private readonly betas: readonly [number, number], private readonly eps: number, weightDecay: number) {
    super(model, weightDecay, ['exp_avg', 'exp_avg_sq'], 0);
  }

  protected update(slot: Slot, grad: tf.Tensor, lr: number): void {
    const [b1, b2] = this.betas;
    const m = slot.buffers.get('exp_avg')!;
    const v = slot.buffers.get('exp_avg_sq')!;
    const nextM = tf.add(tf.mul(m, b1), tf.mul(grad, 1 - b1));
    const nextV = tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), 1 - b2));
    m.assign(nextM);
    v.assign(nextV);
    const mHat = tf.div(nextM, 1 - b1 ** this.step);
    const denom = tf.add(tf.sqrt(tf.div(nextV, 1 - b2 ** this.step)), this.eps);
    const decayed = slot.decay > 0 ? tf.mul(slot.param, 1 - lr * slot.decay) : slot.param;
    slot.param.assign(tf.sub(decayed, tf.mul(tf.div(mHat, denom), lr)));
  }
}

/** timm's create_optimizer for the names train.py accepts here ('sgd' is Nesterov SGD, as in timm 0.1). */
export function createOptimizer(model: TfjsModel, options: OptimizerOptions): Optimizer & { dispose(): void } {
  switch (options.opt) {
    case 'sgd':
    case 'nesterov':
      return new Sgd(model, options.momentum, options.weightDecay, true);
    case 'momentum':
      return new Sgd(model, options.momentum, options.weightDecay, false);
    case 'rmsproptf':
      return new RmsPropTf(model, options.alpha ?? 0.9, options.eps, options.momentum, options.weightDecay);
    case 'adamw':
      return new AdamW(model, options.betas ?? [0.9, 0.999], options.eps, options.weightDecay);
  }
}
