import { UsageError } from '../errors.js';

/**
 * Loads one of the runtimes mnext lists as optional peer dependencies (onnxruntime-node, LiteRT): ~330 MB
 * together, and onnxruntime-node's install step downloads CUDA libraries on linux x64, so `npm install mnext`
 * leaves them out and they are loaded on first use. A missing package is the one sentence naming what to install;
 * any other failure (a broken install, a missing dependency of the package) is passed on as it is.
 */
export async function loadOptionalPackage<T>(name: string, neededFor: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error;
    throw new UsageError(`${neededFor} needs ${name}, which is not installed; install it with \`npm install ${name}\``);
  }
}

/** Node's "cannot find" error for `name` itself, from import() (ERR_MODULE_NOT_FOUND) or require (MODULE_NOT_FOUND). */
function isMissingPackage(error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as NodeJS.ErrnoException;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && error.message.includes(`'${name}'`);
}
