// The public face of fabric/: how the agent talks to Azure (WireServer, HostGAPlugin, IMDS) and finds it.
export { createHttpClient, backoffDelay, type HttpClient, type HttpClientOptions, type HttpRequest, type HttpResponse } from './http.ts';
export { proxyFor, proxySettings, bypassesProxy, type ProxySettings } from './proxy.ts';
export {
  WIRESERVER_IP,
  platformEndpoints,
  redirectPlatformUrl,
  wireServerOverride,
  wireServerUrl,
  hostPluginUrl,
  imdsUrl,
  type PlatformEndpoints,
} from './endpoints.ts';
export {
  discoverWireServer,
  writePersistedEndpoint,
  clearPersistedEndpoint,
  type DiscoveredEndpoint,
  type EndpointSource,
} from './discovery/index.ts';
export { WireServerClient, WIRESERVER_HEADERS, type CertificateCipher } from './wireserver.ts';
export { HostPluginClient, type HostPluginContext, type VmSettingsResult } from './hostplugin.ts';
export { GoalStateFetcher, type FullGoalState, type CertificateSummary, type InstallCertificates } from './goal-state.ts';
export {
  loadOrCreateTransportCert,
  regenerateTransportCert,
  TRANSPORT_CERT_FILE,
  TRANSPORT_KEY_FILE,
  type TransportCertFiles,
} from './transport-cert-files.ts';
export { openPlatformSession, type PlatformSession, type SessionOptions } from './session.ts';
