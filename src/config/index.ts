export {
  Config,
  ConfigValueMissing,
  libDirOf,
  loadConfig,
  parseConfig,
  formatValue,
  DEFAULT_CONFIG_PATH,
  type ConfigWarning,
} from './config.ts';
export {
  SCHEMA,
  isKnownKey,
  specOf,
  confSyntax,
  type ConfigKey,
  type BoolKey,
  type IntKey,
  type StringKey,
  type HasDefault,
  type StringOf,
  type IntOf,
  type KeySpec,
  type Value,
} from './schema.ts';
export { convert, parsePyInt } from './convert.ts';
