/**
 * The data pipeline's public surface: datasets (ImageNet folders, lists), the sharp-based batch loader, the
 * batch tensor steps (normalise, random erasing, mixup), and the dataset makers behind `mnext data`.
 */
export { type ImageSample, type ImageDataset, type Split, IMAGE_EXTENSIONS, openDataset, checkSplitClasses, compareCodePoints } from './dataset.js';
export { type LoaderOptions, type ImageBatch, type SkippedFile, ImageLoader } from './loader.js';
export { IMAGENET_MEAN, IMAGENET_STD } from './constants.js';
export { type ErasingOptions, normalizeBatch, randomErasing, mixupBatch, sampleBeta } from './batch-ops.js';
export { type SyntheticOptions, generateSyntheticDataset } from './synthetic.js';
export { DEFAULT_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type FashionMnistOptions, convertFashionMnist } from './fashion-mnist.js';
export { type SplitReport, inspectDataset } from './inspect.js';
export { DEFAULT_MAX_PIXELS, DecodeError, decodeImage, readImageHeader } from './decode.js';
export { type Interpolation, type CropBox, type ImagePlan, planTrainImage, planEvalImage, randomResizedCropBox, resizeShorterSide, centreCropBox, evalResizeSize, DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, INTERPOLATIONS } from './transforms.js';
export { type DataBenchOptions, type DataBenchResult, benchmarkDataLoader } from './bench.js';
