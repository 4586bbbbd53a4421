/** IDX files (Fashion-MNIST's format) made in memory for the dataset-maker tests. */

export function idxImages(count: number, rows: number, cols: number, pixel: (i: number) => number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(count, 4);
  header.writeUInt32BE(rows, 8);
  header.writeUInt32BE(cols, 12);
  const body = Buffer.alloc(count * rows * cols);
  for (let i = 0; i < count; i += 1) body.fill(pixel(i), i * rows * cols, (i + 1) * rows * cols);
  return Buffer.concat([header, body]);
}

export function idxLabels(labels: number[]): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0x801, 0);
  header.writeUInt32BE(labels.length, 4);
  return Buffer.concat([header, Buffer.from(labels)]);
}
