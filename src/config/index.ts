export { Config, loadConfig, parseConfig, formatValue, DEFAULT_CONFIG_PATH, type ConfigWarning } from './config.ts';
export { SCHEMA, isKnownKey, type ConfigKey, type BoolKey, type IntKey, type StringKey, type KeySpec } from './schema.ts';
