// The extension both agents run in the loop benchmarks: a small shell handler (install/enable/... scripts that
// write a status file on enable, docs/protocol.md §5.11), its PluginVersionManifest, and the ExtensionsConfig
// documents that ask for it (or for nothing), with blob URLs on the emulator's blob service.
import { handlerZip as testHandlerZip, OPS } from '../../test/helpers/extensions.ts';

export const EXT_NAME = 'Bench.Ext';
export const EXT_VERSION = '1.0.0';
export const ZIP_PATH = `/pkg/${EXT_NAME}__${EXT_VERSION}.zip`;
export const MANIFEST_PATH = '/manifests/bench.xml';

/** The tests' handler package (test/helpers/extensions.ts) without their logging: enable writes a success status. */
export function handlerZip(): Buffer {
  return testHandlerZip({ name: EXT_NAME, version: EXT_VERSION, bare: OPS });
}

export function manifestXml(blobBase: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><PluginVersionManifest><Plugins><Plugin><Version>${EXT_VERSION}</Version><Uris><Uri>${blobBase}${ZIP_PATH}</Uri></Uris></Plugin></Plugins></PluginVersionManifest>`;
}

/**
 * An ExtensionsConfig for incarnation `inc`: the status blob on the emulator's blob service, and the benchmark
 * extension enabled with settings sequence number `seqNo` — or no extension at all when seqNo is null.
 */
export function extensionsConfigXml(blobBase: string, inc: number, seqNo: number | null): string {
  const plugin =
    seqNo === null
      ? ''
      : `<Plugin name="${EXT_NAME}" version="${EXT_VERSION}" location="${blobBase}${MANIFEST_PATH}" failoverlocation="${blobBase}${MANIFEST_PATH}" state="enabled" autoUpgrade="false" runAsStartupTask="false" isJson="true" useExactVersion="true"/>`;
  const settings =
    seqNo === null
      ? ''
      : `<Plugin name="${EXT_NAME}" version="${EXT_VERSION}"><RuntimeSettings seqNo="${seqNo}">{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"n":${seqNo}}}}]}</RuntimeSettings></Plugin>`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="${inc}">
  <GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><GAFamilies><GAFamily><Name>Prod</Name><Uris><Uri>${blobBase}/manifests/ga.xml</Uri></Uris></GAFamily></GAFamilies></GuestAgentExtension>
  <StatusUploadBlob statusBlobType="BlockBlob">${blobBase}/status/vm.status?sv=2020&amp;sig=SECRET</StatusUploadBlob>
  <Plugins>${plugin}</Plugins>
  <PluginSettings>${settings}</PluginSettings>
  <InVMGoalStateMetaData inSvdSeqNo="${inc}" createdOnTicks="${637726657706205217n + BigInt(inc)}" activityId="a-${inc}" correlationId="c-${inc}"/>
</Extensions>
`;
}
