/** The one home of the normalisation and eval-transform defaults (timm's data/constants.py). */

/** ImageNet statistics used by timm and the official recipes, on the 0..1 scale. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Interpolation = 'bilinear' | 'bicubic';
export const INTERPOLATIONS: readonly Interpolation[] = ['bilinear', 'bicubic'];
/** timm's default eval resize filter. */
export const DEFAULT_INTERPOLATION: Interpolation = 'bicubic';

/** timm's default eval centre-crop fraction, for models that do not record their own. */
export const DEFAULT_CROP_PCT = 0.875;
