/**
 * The script Emscripten's pthread workers run for tfjs-backend-wasm-threaded-simd in Node: the glue's own
 * worker.js (tfjs-backend-wasm embeds it as `wasmWorkerContents`) with two changes Node needs.
 * - The main script arrives as a Blob (tfjs passes `mainScriptUrlOrBlob`); Node's importScripts shim can only
 *   read files, so the Blob is read asynchronously and later messages wait for it.
 * - That main script is the factory's toString() taken from tfjs's rollup bundle: it still names the bundle's
 *   module variables (require$$0 = fs, …) and TypeScript's down-level helpers, which are defined here.
 * CommonJS, written to a file by ./pthread-node.ts: Node's worker_threads take a script path, not a blob: URL.
 */
export const PTHREAD_WORKER_SOURCE = String.raw`"use strict";
const { parentPort, Worker } = require('node:worker_threads');
const fs = require('node:fs');
let Module = {};
const err = (...args) => fs.writeSync(2, args.join(' ') + '\n');
Object.assign(globalThis, {
  self: globalThis, require, Module, Worker, location: { href: __filename },
  importScripts(f) { (0, eval)(fs.readFileSync(f, 'utf8') + '//# sourceURL=' + f); },
  postMessage(msg) { parentPort.postMessage(msg); },
  commonjsGlobal: globalThis,
  require$$0: fs, require$$1: require('node:path'), require$$3: require('node:perf_hooks'), require$$4: require('node:os'),
  __values: (o) => o[Symbol.iterator](),
  __read: (o, n) => (n === undefined ? [...o] : [...o].slice(0, n)),
  __spreadArray: (to, from) => to.concat(Array.prototype.slice.call(from)),
});
let initializedJS = false;
let pendingQueues = [];
Module.instantiateWasm = (info, receiveInstance) => {
  const instance = new WebAssembly.Instance(Module.wasmModule, info);
  receiveInstance(instance);
  Module.wasmModule = null;
  return instance.exports;
};
self.startWorker = (instance) => { Module = instance; postMessage({ cmd: 'loaded' }); };
let previous = Promise.resolve();
parentPort.on('message', (data) => {
  previous = previous.then(() => handle(data)).catch((e) => {
    if (Module.__emscripten_thread_crashed) Module.__emscripten_thread_crashed();
    err(String((e && e.stack) || e));
    throw e;
  });
});
async function handle(data) {
  if (data.cmd === 'load') {
    Module.wasmModule = data.wasmModule;
    for (const handler of data.handlers) Module[handler] = (...args) => postMessage({ cmd: 'callHandler', handler, args });
    Module.wasmMemory = data.wasmMemory;
    Module.buffer = Module.wasmMemory.buffer;
    Module.ENVIRONMENT_IS_PTHREAD = true;
    const main = typeof data.urlOrBlob === 'string' ? fs.readFileSync(data.urlOrBlob, 'utf8') : await data.urlOrBlob.text();
    (0, eval)(main);
    globalThis.WasmBackendModuleThreadedSimd(Module);
  } else if (data.cmd === 'run') {
    Module.__emscripten_thread_init(data.pthread_ptr, 0, 0, 1);
    Module.establishStackSpace();
    Module.PThread.receiveObjectTransfer(data);
    Module.PThread.threadInitTLS();
    if (!initializedJS) {
      for (const queue of pendingQueues) Module.executeNotifiedProxyingQueue(queue);
      pendingQueues = [];
      initializedJS = true;
    }
    try {
      Module.invokeEntryPoint(data.start_routine, data.arg);
    } catch (ex) {
      if (ex === 'unwind') return;
      if (!(ex instanceof Module.ExitStatus)) throw ex;
      if (!Module.keepRuntimeAlive()) Module.__emscripten_thread_exit(ex.status);
    }
  } else if (data.cmd === 'cancel') {
    if (Module._pthread_self()) Module.__emscripten_thread_exit(-1);
  } else if (data.cmd === 'processProxyingQueue') {
    if (initializedJS) Module.executeNotifiedProxyingQueue(data.queue); else pendingQueues.push(data.queue);
  } else if (data.cmd) {
    err('pthread worker received unknown command ' + data.cmd);
  }
}
`;
