export * from './transfer-syntax';
export * from './parse';
export * from './decode';
export { initCodecs } from './codecs';
export { decodeRleFrame } from './rle';
