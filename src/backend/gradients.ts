/**
 * Registers tfjs's gradient functions. tfjs-core's Node bundle registers none, and its ESM
 * `register_all_gradients` cannot load under plain Node (extensionless imports); tfjs-layers' CommonJS bundle
 * registers all of them into tfjs-core's shared gradient registry. Every backend needs them for training.
 */
import '@tensorflow/tfjs-layers';
