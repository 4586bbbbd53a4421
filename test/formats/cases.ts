/** Architectures every converter is checked on: widths, partial identity k, SE/swish (mnext_s), groups=2 (mnext_l). */
export const CONVERSION_CASES = [
  { arch: 'mobilenext', width: 1.0, tensorMultiplier: 1 },
  { arch: 'mobilenext', width: 0.5, tensorMultiplier: 2 },
  { arch: 'mobilenext', width: 0.75, tensorMultiplier: 4 },
  { arch: 'mobilenext', width: 1.4, tensorMultiplier: 2 },
  { arch: 'mobilenetv2', width: 1.0, tensorMultiplier: 1 },
  { arch: 'mobilenetv2', width: 0.35, tensorMultiplier: 1 },
  { arch: 'mnext_s', width: 1.0, tensorMultiplier: 1 },
  { arch: 'mnext_l', width: 1.0, tensorMultiplier: 1 },
] as const;

/** PyTorch fixtures every converter is checked against: 64 px with and without partial identity, each family at 224 with 1000 classes. */
export const PARITY_FIXTURES = ['mnext_050_64_c10', 'mnext_100_64_c10_tm2', 'mobilenetv2_100_224', 'mnext_100_224', 'mnext_s_224'] as const;
