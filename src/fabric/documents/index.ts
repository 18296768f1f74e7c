// Platform documents as typed, read-only objects: the public face of fabric/documents.
export { WIRE_PROTOCOL_VERSION, parseVersions, supportsWireProtocol } from './versions.ts';
export type { Versions } from './versions.ts';
export { deploymentIdOf, isMissingRoleInstance, parseGoalState } from './goal-state.ts';
export type { GoalState } from './goal-state.ts';
export { parseHostingEnvironment } from './hosting-env.ts';
export type { HostingEnvironment } from './hosting-env.ts';
export { formatRdmaMac, parseSharedConfig, rdmaAddress } from './shared-config.ts';
export type { RdmaAddress, SharedConfig, SharedConfigInstance } from './shared-config.ts';
export { PFX_FORMAT, isPfxPackage, parseCertificates } from './certificates.ts';
export type { CertificatesDocument } from './certificates.ts';
export { parseExpiration, parseRemoteAccess } from './remote-access.ts';
export type { RemoteAccess, RemoteAccessUser } from './remote-access.ts';
export { parseExtensionsConfig } from './extensions-config.ts';
export type { ExtensionsConfig } from './extensions-config.ts';
export { parseVmSettings } from './vm-settings.ts';
export { extensionNameProblem, handlerNameProblem } from './names.ts';
export type { VmSettings } from './vm-settings.ts';
export { GUID_ZERO, ticksToDate, toTicks } from './extensions-summary.ts';
export type {
  ExtensionHandler,
  ExtensionSettings,
  GaFamily,
  GoalStateMetadata,
  StatusBlobType,
  StatusUploadBlob,
} from './extensions-summary.ts';
export { MAX_DESCRIPTION_CHARS, buildHealthReport } from './health-report.ts';
export type { HealthReport } from './health-report.ts';
