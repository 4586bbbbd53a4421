/**
 * timm's ModelEma (spec §4.3): a shadow copy of every state_dict tensor — weights and BN running statistics —
 * blended after every optimiser step as e ← d·e + (1−d)·w, with no warm-up or bias correction (frozen weights
 * are left as they are). The shadow is itself a TfjsModel so it is evaluated (eval mode) and saved like the raw
 * model.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from '../models/state-dict.js';
import { TfjsModel } from '../models/executor.js';

export class ModelEma {
  readonly model: TfjsModel;

  constructor(source: TfjsModel, readonly decay: number, weights: StateDict = source.stateDict()) {
    this.model = new TfjsModel(source.graph, weights);
  }

  update(source: TfjsModel): void {
    const d = this.decay;
    tf.tidy(() => {
      for (const [name, shadow] of this.model.variables) {
        // A frozen weight's shadow stays bit-identical to it (d·w + (1−d)·w need not round back to w).
        if (source.frozen.has(name)) continue;
        shadow.assign(tf.add(tf.mul(shadow, d), tf.mul(source.variables.get(name)!, 1 - d)));
      }
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}
