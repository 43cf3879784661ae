export * from './rigid';
export * from './align';
export * from "./match";
export * from "./track";
