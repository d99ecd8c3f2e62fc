/**
 * The option checks every command shares: each throws a ConfigError that names the field, the
 * value received and what was expected (`--workers must be a positive integer, received 0`).
 */
import { ConfigError } from '../errors.js';

/** `value` when it is one of `choices`. */
export function oneOf<T extends string>(field: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(`${field} must be one of ${choices.join(', ')}, received "${value}"`);
  }
  return value as T;
}

/** `value` when it is an integer ≥ 1. */
export function positiveInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${field} must be a positive integer, received ${value}`);
  }
  return value;
}

/** `value` when it is an integer ≥ 0. */
export function nonNegativeInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${field} must be an integer ≥ 0, received ${value}`);
  }
  return value;
}

/** `value` when it is in [0, 1]. */
export function unitInterval(field: string, value: number): number {
  if (!(value >= 0 && value <= 1)) {
    throw new ConfigError(`${field} must be in [0, 1], received ${value}`);
  }
  return value;
}
