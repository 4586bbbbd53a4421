import { type FolderOutputKind, type OutputOptions, writeOutput } from '../util/output-path.js';

/** A dataset folder mnext made (`mnext data fashion-mnist`, `mnext data synthetic`): one kind, either may replace the other. */
export const DATASET_FOLDER: FolderOutputKind = { type: 'folder', description: 'dataset folder', id: 'dataset' };

/**
 * Builds a dataset folder asynchronously in a staging sibling, then moves it into place by the output rules
 * (util/output-path.ts): an interrupted conversion never leaves a half-written dataset under the requested
 * name, and a folder mnext did not write is never replaced unless `force`.
 */
export function writeDatasetFolder(dir: string, fill: (staging: string) => Promise<void>, options: OutputOptions = {}): Promise<void> {
  return writeOutput(dir, DATASET_FOLDER, fill, options);
}
