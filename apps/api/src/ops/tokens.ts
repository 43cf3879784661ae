/** Nest injection tokens of the operator surfaces. */
export const OPS_CONFIG = Symbol('OPS_CONFIG');
