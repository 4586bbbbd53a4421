/**
 * timm's CosineLRScheduler and StepLRScheduler as train.py builds them (spec §4.3): linear warmup from
 * warmup_lr that does not shift the schedule's phase, evaluated at the epoch index t (updated once per epoch),
 * or at the fractional epoch t = epoch + step/steps when per-step updates are asked for.
 */
export const SCHEDULES = ['cosine', 'step'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface ScheduleOptions {
  readonly sched: ScheduleName;
  readonly lr: number;
  /** Cosine length in epochs (the cooldown comes after it). */
  readonly epochs: number;
  readonly warmupEpochs: number;
  readonly warmupLr: number;
  readonly minLr: number;
  readonly decayEpochs: number;
  readonly decayRate: number;
  readonly cooldownEpochs: number;
}

/** The learning rate at (possibly fractional) epoch t. */
export function learningRate(options: ScheduleOptions, t: number): number {
  const { lr, warmupEpochs, warmupLr } = options;
  if (t < warmupEpochs) return warmupLr + (t * (lr - warmupLr)) / warmupEpochs;
  if (options.sched === 'step') return lr * options.decayRate ** Math.floor(t / options.decayEpochs);
  // Cosine with cycle_limit 1: after t_initial epochs (the cooldown) the LR stays at min_lr.
  if (t >= options.epochs) return options.minLr;
  return options.minLr + 0.5 * (lr - options.minLr) * (1 + Math.cos((Math.PI * t) / options.epochs));
}

/** Epochs the run trains: timm adds the cooldown to the cosine length (step schedules get none). */
export function totalEpochs(options: Pick<ScheduleOptions, 'sched' | 'epochs' | 'cooldownEpochs'>): number {
  return options.sched === 'cosine' ? options.epochs + options.cooldownEpochs : options.epochs;
}

/** LR of step `step` (0-based) of epoch `epoch`, per epoch (timm default) or per step. */
export function stepLearningRate(options: ScheduleOptions, epoch: number, step: number, stepsPerEpoch: number, perStep: boolean): number {
  return learningRate(options, perStep ? epoch + step / Math.max(1, stepsPerEpoch) : epoch);
}
