import { unzipSync, zipSync } from 'fflate';
import type * as flatbuffers from 'flatbuffers';
import { type Offset, TableReader, float32Vector, int8, newBuilder, offset, offsetVector, table, uint32 } from './flatbuffer.js';
import type { MetadataEntry } from './serialize.js';
import { METADATA_NAME, MIN_RUNTIME_NAME, MetadataSlot, ModelSlot } from './schema.js';

/**
 * TFLite model metadata (tflite-support's metadata_schema.fbs, file identifier `M001`, schema 1.1.0): the
 * parts an image-classification app needs — input image properties and normalisation, output labels as an
 * associated file. mnext writes only these tables; their slots are listed below in schema order. Associated
 * files travel as a zip archive appended to the flatbuffer, as tflite-support's MetadataPopulator does.
 *
 * Normalisation is recorded the way the TFLite Task Library reads it: on 0..255 pixel values, so mean and std
 * are mnext's 0..1 values times 255.
 */

const METADATA_IDENTIFIER = 'M001';
const METADATA_PARSER_VERSION = '1.0.0';
export const LABELS_FILE = 'labels.txt';

const ModelMetadataSlot = { name: 0, description: 1, version: 2, subgraphMetadata: 3, author: 4, license: 5, associatedFiles: 6, minParserVersion: 7 } as const;
const SubGraphMetadataSlot = { name: 0, description: 1, inputTensorMetadata: 2, outputTensorMetadata: 3 } as const;
const TensorMetadataSlot = { name: 0, description: 1, dimensionNames: 2, content: 3, processUnits: 4, stats: 5, associatedFiles: 6 } as const;
const ContentSlot = { propertiesType: 0, properties: 1 } as const;
const ContentProperties = { FeatureProperties: 1, ImageProperties: 2 } as const;
const ImagePropertiesSlot = { colorSpace: 0, defaultSize: 1 } as const;
const ImageSizeSlot = { width: 0, height: 1 } as const;
const ColorSpace = { RGB: 1 } as const;
const ProcessUnitSlot = { optionsType: 0, options: 1 } as const;
const ProcessUnitOptions = { NormalizationOptions: 1 } as const;
const NormalizationSlot = { mean: 0, std: 1 } as const;
const AssociatedFileSlot = { name: 0, description: 1, type: 2 } as const;
const AssociatedFileType = { TENSOR_AXIS_LABELS: 2 } as const;
const PIXEL_SCALE = 255;

export interface ModelInfo {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly inputSize: number;
  /** Per-channel normalisation on the 0..1 scale: the model's input is (pixel / 255 - mean) / std. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly classes?: readonly string[];
}

/** What a .tflite written by mnext says about itself. */
export interface TfliteInfo {
  readonly name?: string;
  /** 'mnext' in every file mnext writes (TFLITE_AUTHOR). */
  readonly author?: string;
  readonly description?: string;
  readonly mean?: number[];
  readonly std?: number[];
  readonly classes?: string[];
  readonly minRuntimeVersion?: string;
}

function str(b: flatbuffers.Builder, s: string): Offset {
  return b.createString(s);
}

function inputTensorMetadata(b: flatbuffers.Builder, info: ModelInfo): Offset {
  const size = table(b, [[ImageSizeSlot.width, uint32(info.inputSize)], [ImageSizeSlot.height, uint32(info.inputSize)]]);
  const image = table(b, [[ImagePropertiesSlot.colorSpace, int8(ColorSpace.RGB)], [ImagePropertiesSlot.defaultSize, offset(size)]]);
  const content = table(b, [[ContentSlot.propertiesType, int8(ContentProperties.ImageProperties)], [ContentSlot.properties, offset(image)]]);
  const normalization = table(b, [
    [NormalizationSlot.mean, offset(float32Vector(b, info.mean.map((m) => m * PIXEL_SCALE)))],
    [NormalizationSlot.std, offset(float32Vector(b, info.std.map((s) => s * PIXEL_SCALE)))],
  ]);
  const unit = table(b, [[ProcessUnitSlot.optionsType, int8(ProcessUnitOptions.NormalizationOptions)], [ProcessUnitSlot.options, offset(normalization)]]);
  return table(b, [
    [TensorMetadataSlot.name, offset(str(b, 'image'))],
    [TensorMetadataSlot.description, offset(str(b, `RGB image, ${info.inputSize}x${info.inputSize}, normalised as (pixel - mean) / std`))],
    [TensorMetadataSlot.content, offset(content)],
    [TensorMetadataSlot.processUnits, offset(offsetVector(b, [unit]))],
  ]);
}

function outputTensorMetadata(b: flatbuffers.Builder, info: ModelInfo): Offset {
  const feature = table(b, []);
  const content = table(b, [[ContentSlot.propertiesType, int8(ContentProperties.FeatureProperties)], [ContentSlot.properties, offset(feature)]]);
  const labels = info.classes
    ? offsetVector(b, [table(b, [
      [AssociatedFileSlot.name, offset(str(b, LABELS_FILE))],
      [AssociatedFileSlot.description, offset(str(b, 'Class labels, one per line, in output order'))],
      [AssociatedFileSlot.type, int8(AssociatedFileType.TENSOR_AXIS_LABELS)],
    ])])
    : undefined;
  return table(b, [
    [TensorMetadataSlot.name, offset(str(b, 'logits'))],
    [TensorMetadataSlot.description, offset(str(b, 'Class scores'))],
    [TensorMetadataSlot.content, offset(content)],
    [TensorMetadataSlot.associatedFiles, labels === undefined ? undefined : offset(labels)],
  ]);
}

/** ModelMetadata.author of every .tflite mnext writes. */
export const TFLITE_AUTHOR = 'mnext';

/** The TFLITE_METADATA flatbuffer (`M001`). */
export function buildModelMetadata(info: ModelInfo): Uint8Array {
  const b = newBuilder();
  const input = inputTensorMetadata(b, info);
  const output = outputTensorMetadata(b, info);
  const subgraph = table(b, [
    [SubGraphMetadataSlot.name, offset(str(b, 'main'))],
    [SubGraphMetadataSlot.inputTensorMetadata, offset(offsetVector(b, [input]))],
    [SubGraphMetadataSlot.outputTensorMetadata, offset(offsetVector(b, [output]))],
  ]);
  const root = table(b, [
    [ModelMetadataSlot.name, offset(str(b, info.name))],
    [ModelMetadataSlot.description, offset(str(b, info.description))],
    [ModelMetadataSlot.version, offset(str(b, info.version))],
    [ModelMetadataSlot.subgraphMetadata, offset(offsetVector(b, [subgraph]))],
    [ModelMetadataSlot.author, offset(str(b, TFLITE_AUTHOR))],
    [ModelMetadataSlot.minParserVersion, offset(str(b, METADATA_PARSER_VERSION))],
  ]);
  b.finish(root, METADATA_IDENTIFIER);
  return b.asUint8Array().slice();
}

/** Model.metadata entries: TFLITE_METADATA and the runtime version the ops need (a NUL-padded string). */
export function metadataEntries(info: ModelInfo, minRuntimeVersion: string): MetadataEntry[] {
  const version = new Uint8Array(16);
  version.set(new TextEncoder().encode(minRuntimeVersion).subarray(0, 15));
  return [{ name: METADATA_NAME, data: buildModelMetadata(info) }, { name: MIN_RUNTIME_NAME, data: version }];
}

function readUint32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
}

function writeUint32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset + at, 4).setUint32(0, value, true);
}

/**
 * Appends files as a stored (uncompressed) zip whose offsets count from the start of the .tflite, so zip
 * readers — and tflite-support's metadata extractor — find them in the combined file.
 */
export function appendAssociatedFiles(model: Uint8Array, files: Record<string, Uint8Array>): Uint8Array {
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([name, data]) => [name, [data, { level: 0 }]])));
  const eocd = zip.length - 22;
  if (readUint32(zip, eocd) !== 0x06054b50) throw new Error('zip writer produced an archive with a trailing comment');
  const entries = new DataView(zip.buffer, zip.byteOffset + eocd + 10, 2).getUint16(0, true);
  let at = readUint32(zip, eocd + 16);
  writeUint32(zip, eocd + 16, at + model.length);
  for (let i = 0; i < entries; i += 1) {
    writeUint32(zip, at + 42, readUint32(zip, at + 42) + model.length);
    const view = new DataView(zip.buffer, zip.byteOffset + at + 28, 6);
    at += 46 + view.getUint16(0, true) + view.getUint16(2, true) + view.getUint16(4, true);
  }
  const out = new Uint8Array(model.length + zip.length);
  out.set(model, 0);
  out.set(zip, model.length);
  return out;
}

function metadataBuffer(model: TableReader, name: string): Uint8Array | undefined {
  const entry = model.tables(ModelSlot.metadata).find((m) => m.string(MetadataSlot.name) === name);
  if (!entry) return undefined;
  return model.tables(ModelSlot.buffers)[entry.uint32(MetadataSlot.buffer)]?.bytes(0);
}

function normalization(input: TableReader | undefined): { mean?: number[]; std?: number[] } {
  const unit = input?.tables(TensorMetadataSlot.processUnits).find((u) => u.int8(ProcessUnitSlot.optionsType) === ProcessUnitOptions.NormalizationOptions);
  const options = unit?.table(ProcessUnitSlot.options);
  if (!options) return {};
  return {
    mean: options.float32s(NormalizationSlot.mean).map((m) => m / PIXEL_SCALE),
    std: options.float32s(NormalizationSlot.std).map((s) => s / PIXEL_SCALE),
  };
}

function labels(file: Uint8Array, output: TableReader | undefined): string[] | undefined {
  const entry = output?.tables(TensorMetadataSlot.associatedFiles).find((f) => f.int8(AssociatedFileSlot.type) === AssociatedFileType.TENSOR_AXIS_LABELS);
  const name = entry?.string(AssociatedFileSlot.name);
  if (!name) return undefined;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(file, { filter: (f) => f.name === name });
  } catch {
    return undefined;
  }
  const text = files[name] ? new TextDecoder().decode(files[name]) : undefined;
  return text?.split('\n').filter((line) => line.length > 0);
}

/** Reads back the labels, normalisation and runtime version a .tflite records (mnext's or any metadata writer's). */
export function readTfliteInfo(file: Uint8Array): TfliteInfo {
  const model = TableReader.root(file);
  const versionBytes = metadataBuffer(model, MIN_RUNTIME_NAME);
  const minRuntimeVersion = versionBytes ? new TextDecoder().decode(versionBytes).replace(/\0+$/, '') : undefined;
  const raw = metadataBuffer(model, METADATA_NAME);
  if (!raw) return { minRuntimeVersion };
  const meta = TableReader.root(raw);
  const subgraph = meta.tables(ModelMetadataSlot.subgraphMetadata)[0];
  const input = subgraph?.tables(SubGraphMetadataSlot.inputTensorMetadata)[0];
  const output = subgraph?.tables(SubGraphMetadataSlot.outputTensorMetadata)[0];
  return {
    name: meta.string(ModelMetadataSlot.name),
    author: meta.string(ModelMetadataSlot.author),
    description: meta.string(ModelMetadataSlot.description),
    ...normalization(input),
    classes: labels(file, output),
    minRuntimeVersion,
  };
}
