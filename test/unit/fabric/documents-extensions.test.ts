import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { FIXTURES } from '../../helpers/paths.ts';
import { isAgentError } from '../../../src/util/errors.ts';
import { jsonDepth, MAX_SETTINGS_BYTES_PER_HANDLER, MAX_SETTINGS_DEPTH } from '../../../src/fabric/documents/settings-limits.ts';
import {
  GUID_ZERO,
  parseExtensionsConfig,
  parseVmSettings,
  ticksToDate,
  type ExtensionHandler,
  type ExtensionsConfig,
  type VmSettings,
} from '../../../src/fabric/documents/index.ts';

function headline(c: ExtensionsConfig | VmSettings): string {
  const fam = c.gaFamilies
    .map((f) => `${f.name}@${f.version}/${f.uris.length}${f.isVersionFromRSM ? 'R' : ''}${f.isVMEnabledForRSMUpgrades ? 'E' : ''}`)
    .join(',');
  const blob = `${c.statusUploadBlob.type}:${c.statusUploadBlob.url?.slice(0, 32) ?? null}`;
  const m = c.metadata;
  const extra =
    'source' in c ? ` src=${c.source} hold=${c.onHold} hgap=${c.hostGAPluginVersion}` : ` prof=${c.inVmArtifactsProfileUrl ? 'y' : 'n'}`;
  return `fam=${fam} req=${c.requiredFeatures.join(',')} blob=${blob}${extra} ticks=${m.createdOnTicks} seq=${m.inSvdSeqNo} act=${m.activityId.slice(0, 8)}`;
}

function handlerLine(h: ExtensionHandler): string {
  const settings = h.settings
    .map(
      (s) =>
        `${s.name}#${s.seqNo}:${s.state}:L${s.dependencyLevel}:${JSON.stringify(s.publicSettings).slice(0, 40)}:` +
        `${s.protectedSettings ? 'P' : '-'}${s.certificateThumbprint ? s.certificateThumbprint.slice(0, 4) : '-'}`,
    )
    .join(' | ');
  const flags = `mc=${h.isMultiConfig} au=${h.autoUpgrade} json=${h.isJson} exact=${h.useExactVersion} sig=${h.encodedSignature ? 'y' : 'n'}`;
  return `${h.name}@${h.version} ${h.state} ${flags} uris=${h.manifestUris.length} [${settings}]${h.invalidReason ? ' INVALID' : ''}`;
}

function summarize(c: ExtensionsConfig | VmSettings): string[] {
  return [headline(c), ...c.handlers.map(handlerLine)];
}

const DATA = join(FIXTURES, 'tests', 'data') + '/';
const read = (p: string): string => readFileSync(DATA + p, 'utf8');
const parse = (p: string) => (/vm_settings|VmSettings/.test(p) ? parseVmSettings(read(p)) : parseExtensionsConfig(read(p)));
const handler = (c: ExtensionsConfig, name: string) => c.handlers.find((h) => h.name === name)!;

// Every recorded ExtensionsConfig / vmSettings document, summarized (see documents-extensions.helpers.ts):
// families (name@version/uri count, R = version from RSM, E = VM enabled for RSM upgrades), required
// features, status blob, then one line per handler with its settings
// (name#seqNo:state:LdependencyLevel:publicSettings:protected+thumbprint).
const EXTENSIONS_FIXTURES: Array<[string, string[]]> = [
  [
    'wire/ext_conf-no_encoded_signature.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf-no_gs_metadata.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=0 seq=null act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf-vm_access_with_invalid_signature.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.OSTCExtensions.Edp.VMAccessForLinux@1.7.0 enabled mc=false au=false json=true exact=false sig=y uris=2 [Microsoft.OSTCExtensions.Edp.VMAccessForLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf-vm_access_with_signature.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.OSTCExtensions.Edp.VMAccessForLinux@1.7.0 enabled mc=false au=false json=true exact=false sig=y uris=2 [Microsoft.OSTCExtensions.Edp.VMAccessForLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=y uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_additional_locations.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=4 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_aks_extension.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"message":"Enabling non-AKS"}:--]',
      'Microsoft.AKS.Compute.AKS.Linux.AKSNode@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.AKS.Compute.AKS.Linux.AKSNode#0:enabled:L0:{"message":"Enabling AKSNode"}:--]',
      'Microsoft.AKS.Compute.AKS-Engine.Linux.Billing@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.AKS.Compute.AKS-Engine.Linux.Billing#0:enabled:L0:{"message":"Enabling AKSBilling"}:--]',
      'Microsoft.AKS.Compute.AKS.Linux.Billing@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 []',
    ],
  ],
  [
    'wire/ext_conf_autoupgrade.xml',
    [
      'fam=Win8@null/2,Win7@null/2 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_autoupgrade_internalversion.xml',
    [
      'fam=Win8@null/2,Win7@null/2 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.3.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_dependencies_with_empty_settings.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L1:{"foo":"bar"}:PF6AB]',
      'OSTCExtensions.OtherExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 []',
    ],
  ],
  [
    'wire/ext_conf_downgrade_rsm_version.xml',
    [
      'fam=Prod@9.9.9.0/1RE,Test@9.9.9.0/1RE req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_in_vm_artifacts_profile.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=y ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_in_vm_empty_artifacts_profile.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_in_vm_metadata.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637405409304121230 seq=2 act=555e551c',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_internalversion.xml',
    [
      'fam=Win8@null/2,Win7@null/2 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.3.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_invalid_and_valid_handlers.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.InvalidExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
      'OSTCExtensions.ValidExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ValidExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_invalid_vm_metadata.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=0 seq=2 act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_missing_family.xml',
    ['fam=Prod@null/0 req= blob=BlockBlob:https://walaautoasmeastus.blob.c prof=n ticks=637726657706205217 seq=10 act=a33f6f53'],
  ],
  [
    'wire/ext_conf_multiple_extensions.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.Powershell.ExampleExtension@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.EnterpriseCloud.Monitoring.ExampleHandlerLinux@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.EnterpriseCloud.Monitoring.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.CPlat.Core.ExampleExtensionLinux@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.CPlat.Core.ExampleExtensionLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.OSTCExtensions.Edp.ExampleExtensionLinuxInTest@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.OSTCExtensions.Edp.ExampleExtensionLinuxInTest#0:enabled:L0:{"foo":"bar"}:--]',
    ],
  ],
  [
    'wire/ext_conf_no_extensions-block_blob.xml',
    ['fam= req= blob=BlockBlob:http://foo prof=n ticks=637726657706205217 seq=10 act=a33f6f53'],
  ],
  ['wire/ext_conf_no_extensions-no_status_blob.xml', ['fam= req= blob=BlockBlob:null prof=n ticks=637726657706205217 seq=10 act=a33f6f53']],
  [
    'wire/ext_conf_no_extensions-page_blob.xml',
    ['fam=Prod@null/1,Test@null/1 req= blob=PageBlob:http://sas_url prof=n ticks=637726657706205217 seq=10 act=a33f6f53'],
  ],
  [
    'wire/ext_conf_no_public.xml',
    [
      'fam=Win8@null/11,Win7@null/11 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:null:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_no_settings.xml',
    [
      'fam=Win8@null/11,Win7@null/11 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0 enabled mc=false au=false json=true exact=false sig=n uris=2 []',
    ],
  ],
  [
    'wire/ext_conf_redact.xml',
    [
      'fam=Prod@2.12.0.2/1 req= blob=PageBlob:https://md-z9z999zzzz99.z38.blob prof=y ticks=638697286354582862 seq=71 act=b72a79fc',
      'Microsoft.Azure.Extensions.CustomScript@2.1.10 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#1:enabled:L0:null:P3CA9]',
      'Microsoft.Azure.AzureDefenderForServers.MDE.Linux@1.0.4.7 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.AzureDefenderForServers.MDE.Linux#12:enabled:L0:{"azureResourceId":"/subscriptions/z99z9:P3CA9]',
      'Microsoft.CPlat.Core.RunCommandLinux@1.0.5 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.CPlat.Core.RunCommandLinux#13:enabled:L0:{}:P3CA9]',
    ],
  ],
  [
    'wire/ext_conf_required_features.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=TestRequiredFeature1,TestRequiredFeature2,TestRequiredFeature3 blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinuxWithRequiredFeatures@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinuxWithRequiredFeatures#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_rsm_version.xml',
    [
      'fam=Prod@9.9.9.10/1RE,Test@9.9.9.10/1RE req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_sequencing.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L2:{"foo":"bar"}:PF6AB]',
      'OSTCExtensions.OtherExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.OtherExampleHandlerLinux#0:enabled:L1:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_settings_case_mismatch.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.Powershell.ExampleExtension@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.EnterpriseCloud.Monitoring.ExampleHandlerLinux@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.EnterpriseCloud.Monitoring.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.CPlat.Core.ExampleExtensionLinux@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.CPlat.Core.ExampleExtensionLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
      'Microsoft.OSTCExtensions.Edp.ExampleExtensionLinuxInTest@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.OSTCExtensions.Edp.ExampleExtensionLinuxInTest#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_upgradeguid.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_version_missing_in_agent_family.xml',
    [
      'fam=Prod@null/1RE,Test@null/1RE req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_version_missing_in_manifest.xml',
    [
      'fam=Prod@9.9.9.999/1RE,Test@9.9.9.999/1RE req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_version_not_from_rsm.xml',
    [
      'fam=Prod@9.9.9.10/1E,Test@9.9.9.10/1E req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/ext_conf_vm_not_enabled_for_rsm_upgrades.xml',
    [
      'fam=Prod@9.9.9.10/1,Test@9.9.9.10/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.ExampleHandlerLinux#0:enabled:L0:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/invalid_config/ext_conf_multiple_depends_on_for_single_handler.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
      'OSTCExtensions.OtherExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [OSTCExtensions.OtherExampleHandlerLinux#0:enabled:L1:{"foo":"bar"}:PF6AB]',
    ],
  ],
  [
    'wire/invalid_config/ext_conf_multiple_runtime_settings_same_plugin.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
    ],
  ],
  [
    'wire/invalid_config/ext_conf_multiple_settings_for_same_handler.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
    ],
  ],
  [
    'wire/invalid_config/ext_conf_plugin_settings_version_mismatch.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
    ],
  ],
  [
    'wire/invalid_config/ext_conf_single_and_multi_config_settings_same_plugin.xml',
    [
      'fam=Prod@null/1,Test@null/1 req= blob=BlockBlob:https://test.blob.core.windows.n prof=n ticks=637726657706205217 seq=10 act=a33f6f53',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=false au=false json=true exact=false sig=n uris=2 [] INVALID',
    ],
  ],
  [
    'wire/multi-config/ext_conf_mc_disabled_extensions.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=BlockBlob:https://test.blob.core.windows.n prof=y ticks=637415129555522297 seq=3 act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=true au=false json=true exact=false sig=n uris=2 [firstExtension#1:disabled:L0:{"source":{"script":"Write-Host First: H:-- | secondExtension#2:disabled:L0:{"message":"Disabling secondExtension"}:-- | thirdExtension#99:enabled:L0:{"message":"Enabling thirdExtension"}:-- | fourthExtension#101:enabled:L0:{"message":"Enabling fourthExtension"}:--]',
      'Microsoft.Powershell.ExampleExtension@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#10:enabled:L0:{"message":"Enabling SingleConfig Extens:--]',
    ],
  ],
  [
    'wire/multi-config/ext_conf_mc_update_extensions.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=BlockBlob:https://test.blob.core.windows.n prof=y ticks=637415129555522297 seq=3 act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.1.0 enabled mc=true au=false json=true exact=false sig=n uris=2 [firstExtension#1:disabled:L0:{"message":"Disabling firstExtension"}:-- | secondExtension#2:disabled:L0:{"message":"Disabling secondExtension"}:-- | thirdExtension#99:enabled:L0:{"message":"Enabling thirdExtension"}:--]',
      'Microsoft.Powershell.ExampleExtension@1.1.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#10:enabled:L0:{"message":"Enabling SingleConfig extens:--]',
    ],
  ],
  [
    'wire/multi-config/ext_conf_multi_config_no_dependencies.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=BlockBlob:https://test.blob.core.windows.n prof=y ticks=637415129555522297 seq=3 act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=true au=false json=true exact=false sig=n uris=2 [firstExtension#1:enabled:L0:{"message":"Enabling firstExtension"}:-- | secondExtension#2:enabled:L0:{"message":"Enabling secondExtension"}:-- | thirdExtension#3:enabled:L0:{"message":"Enabling thirdExtension"}:--]',
      'Microsoft.Powershell.ExampleExtension@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#9:enabled:L0:{"message":"Enabling SingleConfig extens:--]',
    ],
  ],
  [
    'wire/multi-config/ext_conf_with_disabled_multi_config.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=PageBlob:https://test.blob.core.windows.n prof=y ticks=637415145688521507 seq=5 act=00000000',
      'Microsoft.CPlat.Core.RunCommandHandlerWindows@2.3.0 enabled mc=true au=true json=true exact=true sig=n uris=2 [firstRunCommand#3:enabled:L0:{"source":{"script":"Write-Host First: H:-- | secondRunCommand#3:enabled:L1:{"source":{"script":"Write-Host Second: :-- | thirdRunCommand#1:disabled:L4:{"source":{"script":"Write-Host Third: H:--]',
      'Microsoft.Azure.Security.AntimalwareSignature.AntimalwareConfiguration@2.0.53.0 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Azure.Security.AntimalwareSignature.AntimalwareConfiguration#1:enabled:L0:{}:--]',
      'Microsoft.Azure.Geneva.GenevaMonitoring@2.20.0.1 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Azure.Geneva.GenevaMonitoring#2:enabled:L0:{}:--]',
      'Microsoft.Compute.CustomScriptExtension@1.10.9 enabled mc=false au=false json=true exact=true sig=n uris=2 [Microsoft.Compute.CustomScriptExtension#3:enabled:L1:{"fileUris":["https://test.blob.core.win:--]',
      'Microsoft.Compute.VMAccessAgent@2.4.7 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Compute.VMAccessAgent#2:enabled:L2:{"UserName":"test1234"}:PEE22]',
    ],
  ],
  [
    'wire/multi-config/ext_conf_with_multi_config.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=PageBlob:https://test.blob.core.windows.n prof=y ticks=637415129555522297 seq=3 act=00000000',
      'Microsoft.CPlat.Core.RunCommandHandlerWindows@2.3.0 enabled mc=true au=true json=true exact=true sig=n uris=2 [firstRunCommand#2:enabled:L0:{"source":{"script":"Write-Host First: H:-- | secondRunCommand#2:enabled:L3:{"source":{"script":"Write-Host First: H:-- | thirdRunCommand#1:enabled:L4:{"source":{"script":"Write-Host Third: H:--]',
      'Microsoft.Azure.Security.AntimalwareSignature.AntimalwareConfiguration@2.0.53.0 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Azure.Security.AntimalwareSignature.AntimalwareConfiguration#1:enabled:L0:{}:--]',
      'Microsoft.Azure.Geneva.GenevaMonitoring@2.20.0.1 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Azure.Geneva.GenevaMonitoring#1:enabled:L0:{}:--]',
      'Microsoft.Compute.CustomScriptExtension@1.10.9 enabled mc=false au=false json=true exact=true sig=n uris=2 [Microsoft.Compute.CustomScriptExtension#2:enabled:L1:{"fileUris":["https://test.blob.core.win:--]',
      'Microsoft.Compute.VMAccessAgent@2.4.7 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Compute.VMAccessAgent#1:enabled:L2:{"UserName":"test1234"}:PEE22]',
    ],
  ],
  [
    'wire/multi-config/ext_conf_with_multi_config_dependencies.xml',
    [
      'fam=Prod@null/1,Test@null/1 req=MultipleExtensionsPerHandler blob=BlockBlob:https://test.blob.core.windows.n prof=y ticks=637415129555522297 seq=3 act=00000000',
      'OSTCExtensions.ExampleHandlerLinux@1.0.0 enabled mc=true au=false json=true exact=false sig=n uris=2 [firstExtension#2:enabled:L0:{"message":"Enabling firstExtension"}:-- | secondExtension#2:enabled:L2:{"message":"Enabling secondExtension"}:-- | thirdExtension#1:enabled:L3:{"message":"Enabling thirdExtension"}:--]',
      'Microsoft.Powershell.ExampleExtension@1.0.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Powershell.ExampleExtension#2:enabled:L1:{"message":"Enabling dependent SingleCon:--]',
      'Microsoft.Azure.Geneva.GenevaMonitoring@1.1.0 enabled mc=false au=true json=true exact=false sig=n uris=2 [Microsoft.Azure.Geneva.GenevaMonitoring#1:enabled:L0:{"message":"Enabling independent SingleC:--]',
    ],
  ],
  [
    'hostgaplugin/ext_conf-agent_family_version.xml',
    [
      'fam=Prod@9.9.9.10/2RE,Test@9.9.9.10/2RE req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win prof=y ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:P59A1]',
    ],
  ],
  [
    'hostgaplugin/ext_conf-empty_depends_on.xml',
    [
      'fam=Prod@2.5.0.2/2,Test@2.5.0.2/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcqabsr1.blob.core.win prof=y ticks=637693267431616449 seq=10 act=2e7f8b5d',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'09cd27e9-fbd6:--]',
    ],
  ],
  [
    'hostgaplugin/ext_conf-invalid_blob_type.xml',
    [
      'fam=Prod@2.5.0.2/2,Test@2.5.0.2/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcqabsr1.blob.core.win prof=y ticks=637693267431616449 seq=10 act=2e7f8b5d',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'09cd27e9-fbd6:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L0:{"source":{"script":"echo \'737fa9f1-e9bf:-- | MCExt2#0:enabled:L0:{"source":{"script":"echo \'f6a0a405-c028:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'338e316a-01bf:--]',
    ],
  ],
  [
    'hostgaplugin/ext_conf-no_status_upload_blob.xml',
    [
      'fam=Prod@null/2 req= blob=BlockBlob:null prof=y ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
    ],
  ],
  [
    'hostgaplugin/ext_conf-rsm_version_properties_false.xml',
    [
      'fam=Prod@9.9.9.10/2,Test@9.9.9.10/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win prof=y ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:P59A1]',
    ],
  ],
  [
    'hostgaplugin/ext_conf.xml',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win prof=y ticks=637726657706205217 seq=10 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:P59A1]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-agent_family_version.json',
    [
      'fam=Prod@9.9.9.9/2RE,Test@9.9.9.9/2RE req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726699999999999 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=1 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=1 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L0:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L0:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-difference_in_required_features.json',
    [
      'fam=Prod@null/2,Test@null/2 req=A_NON_EXISTING_FEATURE_USED_TO_PRODUCE_AN_ERROR blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726657706205217 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:P59A1]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-empty_depends_on.json',
    [
      'fam=Prod@2.5.0.2/2,Test@2.5.0.2/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcqabsr1.blob.core.win src=FastTrack hold=false hgap=1.0.8.133 ticks=637693267431616449 seq=1 act=2e7f8b5d',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'09cd27e9-fbd6:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-fabric-no_thumbprints.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=Fabric hold=true hgap=1.0.8.133 ticks=637726657706205299 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:--]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:--]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 []',
    ],
  ],
  [
    'hostgaplugin/vm_settings-invalid_blob_type.json',
    [
      'fam=Prod@2.5.0.2/2,Test@2.5.0.2/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcqabsr1.blob.core.win src=FastTrack hold=false hgap=1.0.8.133 ticks=637693267431616449 seq=1 act=2e7f8b5d',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'09cd27e9-fbd6:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L0:{"source":{"script":"echo \'737fa9f1-e9bf:-- | MCExt2#0:enabled:L0:{"source":{"script":"echo \'f6a0a405-c028:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'338e316a-01bf:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-missing_cert.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726657706205299 seq=1 act=a33f6f53',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:P59A1]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-no_manifests.json',
    [
      'fam=Prod@null/0 req= blob=PageBlob:https://md-ssd-xpdjf15s.blob.cor src=FastTrack hold=false hgap=1.0.8.133 ticks=637829610574739741 seq=978 act=89d50bf1',
      'Microsoft.Azure.Monitor.WorkloadInsights.Test.Workload.LinuxConfigAgent@3.0 uninstall mc=false au=true json=true exact=true sig=n uris=0 []',
      'Microsoft.Azure.Monitor.WorkloadInsights.Test.Workload.LinuxInstallerAgent@11.0 uninstall mc=false au=true json=true exact=true sig=n uris=0 []',
      'Microsoft.Azure.Monitor.Workloads.Workload.WLILinuxExtension@0.2.127 enabled mc=false au=true json=true exact=true sig=n uris=2 [Microsoft.Azure.Monitor.Workloads.Workload.WLILinuxExtension#7:enabled:L0:{"workloadConfig":null}:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-no_status_upload_blob.json',
    [
      'fam=Prod@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:null src=FastTrack hold=true hgap=1.0.8.133 ticks=637726657706209999 seq=1 act=a33f6f53',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-out-of-sync.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726657000000000 seq=1 act=AAAAAAA-',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-redact.json',
    [
      'fam=Prod@2.12.0.2/1 req= blob=PageBlob:https://md-z9z999zzzz99.z38.blob src=FastTrack hold=false hgap=1.0.8.159 ticks=638693753947160515 seq=69 act=845594b9',
      'Microsoft.Azure.Extensions.CustomScript@2.1.10 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#1:enabled:L0:null:PFF56]',
      'Microsoft.Azure.AzureDefenderForServers.MDE.Linux@1.0.4.7 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.AzureDefenderForServers.MDE.Linux#12:enabled:L0:{"azureResourceId":"/subscriptions/z99z9:PFF56]',
      'Microsoft.CPlat.Core.RunCommandLinux@1.0.5 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.CPlat.Core.RunCommandLinux#13:enabled:L0:{}:PFF56]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-redact_formatted.json',
    [
      'fam=Prod@2.12.0.2/1 req= blob=PageBlob:https://md-z9z999zzzz99.z38.blob src=FastTrack hold=false hgap=1.0.8.159 ticks=638693753947160515 seq=69 act=845594b9',
      'Microsoft.Azure.Extensions.CustomScript@2.1.10 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#1:enabled:L0:null:PFF56]',
      'Microsoft.Azure.AzureDefenderForServers.MDE.Linux@1.0.4.7 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.AzureDefenderForServers.MDE.Linux#12:enabled:L0:{"azureResourceId":"/subscriptions/z99z9:PFF56]',
      'Microsoft.CPlat.Core.RunCommandLinux@1.0.5 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.CPlat.Core.RunCommandLinux#13:enabled:L0:{}:PFF56]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-requested_version_properties_false.json',
    [
      'fam=Prod@9.9.9.9/2,Test@9.9.9.9/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726699999999999 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=n uris=1 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=1 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L0:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L0:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L0:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-supported_hgap_version_for_signature.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.159 ticks=637726657706205299 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=y uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-unsupported_hgap_version_for_signature.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.158 ticks=637726657706205299 seq=1 act=a33f6f53',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
    ],
  ],
  [
    'hostgaplugin/vm_settings-unsupported_version.json',
    [
      'fam=Prod@null/2,Test@null/2 req= blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.116 ticks=637726657706205217 seq=1 act=a33f6f53',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
    ],
  ],
  [
    'hostgaplugin/vm_settings.json',
    [
      'fam=Prod@null/2,Test@null/2 req=MultipleExtensionsPerHandler blob=BlockBlob:https://dcrcl3a0xs.blob.core.win src=FastTrack hold=true hgap=1.0.8.133 ticks=637726657706205299 seq=1 act=a33f6f53',
      'Microsoft.Azure.Monitor.AzureMonitorLinuxAgent@1.9.1 enabled mc=false au=true json=true exact=true sig=y uris=3 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent#0:enabled:L0:{"GCS_AUTO_CONFIG":true}:PF6AB]',
      'Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent@2.15.112 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent#0:enabled:L0:{"enableGenevaUpload":true}:PF6AB]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.6 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#0:enabled:L1:{"commandToExecute":"echo \'cee174d4-4daa:--]',
      'Microsoft.CPlat.Core.RunCommandHandlerLinux@1.2.0 enabled mc=true au=true json=true exact=true sig=n uris=3 [MCExt1#0:enabled:L2:{"source":{"script":"echo \'4abb1e88-f349:-- | MCExt2#0:enabled:L1:{"source":{"script":"echo \'e865c9bc-a7b3:-- | MCExt3#0:enabled:L0:{"source":{"script":"echo \'f923e416-0340:--]',
      'Microsoft.OSTCExtensions.VMAccessForLinux@1.5.11 enabled mc=false au=false json=true exact=true sig=n uris=3 [Microsoft.OSTCExtensions.VMAccessForLinux#0:enabled:L0:null:PF6AB]',
    ],
  ],
  [
    'hibernate/goal_state_1/ExtensionsConfig.xml',
    [
      'fam=Prod@2.13.1.1/5 req= blob=PageBlob:https://foo-bar.z6.blob.storage. prof=y ticks=638852747570627097 seq=9 act=f32f99b5',
      'Microsoft.GuestConfiguration.ConfigurationforLinux@1.26.89 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.GuestConfiguration.ConfigurationforLinux#0:enabled:L0:{}:P1AF5]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.13 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#4:enabled:L0:null:P1AF5]',
      'Microsoft.CPlat.Core.LinuxHibernateExtension@1.0.1 enabled mc=false au=true json=true exact=true sig=n uris=3 []',
    ],
  ],
  [
    'hibernate/goal_state_1/VmSettings.json',
    [
      'fam=Prod@2.13.1.1/5 req= blob=PageBlob:https://foo-bar.z6.blob.storage. src=FastTrack hold=false hgap=1.0.8.175 ticks=638852750771746340 seq=9 act=8797175c',
      'Microsoft.GuestConfiguration.ConfigurationforLinux@1.26.89 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.GuestConfiguration.ConfigurationforLinux#0:enabled:L0:{}:P1AF5]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.13 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#5:enabled:L0:null:P1AF5]',
      'Microsoft.CPlat.Core.LinuxHibernateExtension@1.0.1 enabled mc=false au=true json=true exact=true sig=n uris=3 []',
    ],
  ],
  [
    'hibernate/goal_state_2/ExtensionsConfig.xml',
    [
      'fam=Prod@2.13.1.1/1 req= blob=PageBlob:https://foo-bar.z6.blob.storage. prof=y ticks=638852753414265542 seq=10 act=b62f1ce8',
      'Microsoft.GuestConfiguration.ConfigurationforLinux@1.26.89 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.GuestConfiguration.ConfigurationforLinux#0:enabled:L0:{}:P33BD]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.13 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#5:enabled:L0:null:P33BD]',
      'Microsoft.CPlat.Core.LinuxHibernateExtension@1.0.1 enabled mc=false au=true json=true exact=true sig=n uris=3 []',
    ],
  ],
  [
    'hibernate/goal_state_2/VmSettings.json',
    [
      'fam=Prod@2.13.1.1/5 req= blob=PageBlob:https://foo-bar.z6.blob.storage. src=Fabric hold=false hgap=1.0.8.175 ticks=638852753414265542 seq=10 act=b62f1ce8',
      'Microsoft.GuestConfiguration.ConfigurationforLinux@1.26.89 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.GuestConfiguration.ConfigurationforLinux#0:enabled:L0:{}:P33BD]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.13 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#5:enabled:L0:null:P33BD]',
      'Microsoft.CPlat.Core.LinuxHibernateExtension@1.0.1 enabled mc=false au=true json=true exact=true sig=n uris=3 []',
    ],
  ],
  [
    'hibernate/goal_state_3/VmSettings.json',
    [
      'fam=Prod@2.13.1.1/5 req= blob=PageBlob:https://foo-bar.z6.blob.storage. src=FastTrack hold=false hgap=1.0.8.175 ticks=638852755619904276 seq=10 act=603670b5',
      'Microsoft.GuestConfiguration.ConfigurationforLinux@1.26.89 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.GuestConfiguration.ConfigurationforLinux#0:enabled:L0:{}:P33BD]',
      'Microsoft.Azure.Extensions.CustomScript@2.1.13 enabled mc=false au=true json=true exact=true sig=n uris=3 [Microsoft.Azure.Extensions.CustomScript#6:enabled:L0:null:P33BD]',
      'Microsoft.CPlat.Core.LinuxHibernateExtension@1.0.1 enabled mc=false au=true json=true exact=true sig=n uris=3 []',
    ],
  ],
];

describe('every recorded extensions goal state parses to the expected summary', () => {
  it('the table lists every recorded ExtensionsConfig and vmSettings document', () => {
    const dirs = [
      'wire',
      'wire/invalid_config',
      'wire/multi-config',
      'hostgaplugin',
      'hibernate/goal_state_1',
      'hibernate/goal_state_2',
      'hibernate/goal_state_3',
    ];
    const recorded = dirs
      .flatMap((d) => readdirSync(DATA + d).map((n) => `${d}/${n}`))
      .filter((p) => /ext_conf|vm_settings|ExtensionsConfig|VmSettings/.test(p))
      .filter((p) => !p.endsWith('vm_settings-parse_error.json')); // tested below: malformed JSON
    assert.deepEqual(EXTENSIONS_FIXTURES.map(([f]) => f).sort(), recorded.sort());
  });
  for (const [file, expected] of EXTENSIONS_FIXTURES) {
    it(file, () => assert.deepEqual(summarize(parse(file)), expected));
  }
});

describe('ExtensionsConfig rules (§5.1)', () => {
  it('reads the handler attributes and the manifest URIs in order: location, failover, additional', () => {
    const c = parseExtensionsConfig(read('wire/ext_conf_additional_locations.xml'));
    assert.equal(c.goalStateIncarnation, '9');
    assert.deepEqual(c.handlers[0]!.manifestUris, [
      'http://mock-goal-state/location/1/manifest.xml',
      'http://mock-goal-state/failoverlocation/2/manifest.xml',
      'http://mock-goal-state/additionalLocation/3/manifest.xml',
      'http://mock-goal-state/additionalLocation/4/manifest.xml',
    ]);
    const withSig = parseExtensionsConfig(read('wire/ext_conf.xml')).handlers[0]!;
    assert.match(withSig.encodedSignature!, /^MII/);
    assert.deepEqual(withSig.settings[0], {
      name: 'OSTCExtensions.ExampleHandlerLinux',
      seqNo: 0,
      state: 'enabled',
      dependencyLevel: 0,
      publicSettings: { foo: 'bar' },
      protectedSettings: 'MIICWgYJK',
      certificateThumbprint: 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9',
    });
  });

  it('unescapes and trims the status blob URL; a missing blob gives url null, BlockBlob', () => {
    const c = parseExtensionsConfig(read('wire/ext_conf_multiple_extensions.xml'));
    assert.equal(
      c.statusUploadBlob.url,
      'https://test.blob.core.windows.net/vhds/test-cs12.test-cs12.test-cs12.status?sr=b&sp=rw&se=9999-01-01&sk=key1&sv=2014-02-14&sig=hfRh7gzUE7sUtYwke78IOlZOrTRCYvkec4hGZ9zZzXo',
    );
    assert.deepEqual(parseExtensionsConfig(read('wire/ext_conf_no_extensions-no_status_blob.xml')).statusUploadBlob, {
      url: null,
      type: 'BlockBlob',
    });
    assert.equal(parseExtensionsConfig(read('wire/ext_conf_no_extensions-page_blob.xml')).statusUploadBlob.type, 'PageBlob');
    // statusBlobType="INVALID_BLOB_TYPE" → BlockBlob (§10 item 10)
    assert.equal(parseExtensionsConfig(read('hostgaplugin/ext_conf-invalid_blob_type.xml')).statusUploadBlob.type, 'BlockBlob');
  });

  it('keeps created-on ticks exact and converts them to a date', () => {
    const m = parseExtensionsConfig(read('wire/ext_conf.xml')).metadata;
    assert.equal(m.createdOnTicks, 637726657706205217n);
    assert.equal(m.createdOn.toISOString(), '2021-11-16T13:22:50.620Z');
    assert.equal(m.activityId, 'a33f6f53-43d6-4625-b322-1a39651a00c9');
    assert.equal(m.correlationId, '9a47a2a2-e740-4bfc-b11b-4f2f7cfe7d2e');
    assert.equal(m.inSvdSeqNo, 10);
  });

  it('defaults missing or empty InVMGoalStateMetaData values: zero GUIDs, 0001-01-01', () => {
    for (const file of ['wire/ext_conf-no_gs_metadata.xml', 'wire/ext_conf_invalid_vm_metadata.xml']) {
      const m = parseExtensionsConfig(read(file)).metadata;
      assert.equal(m.activityId, GUID_ZERO, file);
      assert.equal(m.correlationId, GUID_ZERO, file);
      assert.equal(m.createdOnTicks, 0n, file);
      assert.equal(m.createdOn.toISOString(), '0001-01-01T00:00:00.000Z', file);
    }
    assert.equal(ticksToDate(0n).getTime(), new Date('0001-01-01T00:00:00Z').getTime());
  });

  it('matches PluginSettings to handlers by case-insensitive name (§10 item 17)', () => {
    const c = parseExtensionsConfig(read('wire/ext_conf_settings_case_mismatch.xml'));
    assert.equal(c.handlers.length, 5);
    for (const h of c.handlers) {
      assert.equal(h.invalidReason, null, h.name);
      assert.equal(h.settings.length, 1, h.name);
      assert.equal(h.settings[0]!.name, h.name);
    }
  });

  it('reads GA families with RSM properties, and required features', () => {
    const c = parseExtensionsConfig(read('hostgaplugin/ext_conf-agent_family_version.xml'));
    assert.deepEqual(c.gaFamilies[0], {
      name: 'Prod',
      version: '9.9.9.10',
      fromVersion: '9.9.9.9',
      isVersionFromRSM: true,
      isVMEnabledForRSMUpgrades: true,
      uris: [
        'https://zrdfepirv2cdm03prdstr01a.blob.core.windows.net/7d89d439b79f4452950452399add2c90/Microsoft.OSTCLinuxAgent_Prod_uscentraleuap_manifest.xml',
        'https://ardfepirv2cdm03prdstr01a.blob.core.windows.net/7d89d439b79f4452950452399add2c90/Microsoft.OSTCLinuxAgent_Prod_uscentraleuap_manifest.xml',
      ],
    });
    assert.deepEqual(parseExtensionsConfig(read('wire/ext_conf_required_features.xml')).requiredFeatures, [
      'TestRequiredFeature1',
      'TestRequiredFeature2',
      'TestRequiredFeature3',
    ]);
    assert.match(parseExtensionsConfig(read('wire/ext_conf_in_vm_artifacts_profile.xml')).inVmArtifactsProfileUrl!, /^https:\/\/.*\?/);
    assert.equal(parseExtensionsConfig(read('wire/ext_conf_in_vm_empty_artifacts_profile.xml')).inVmArtifactsProfileUrl, null);
  });

  it('multi-config: per-extension name, seqNo, state (default enabled) and dependency level', () => {
    const c = parseExtensionsConfig(read('wire/multi-config/ext_conf_with_multi_config.xml'));
    const rc = handler(c, 'Microsoft.CPlat.Core.RunCommandHandlerWindows');
    assert.equal(rc.isMultiConfig, true);
    assert.deepEqual(
      rc.settings.map((s) => [s.name, s.seqNo, s.state, s.dependencyLevel]),
      [
        ['firstRunCommand', 2, 'enabled', 0],
        ['secondRunCommand', 2, 'enabled', 3],
        ['thirdRunCommand', 1, 'enabled', 4],
      ],
    );
  });
});

describe('ExtensionsConfig: invalid settings make that handler invalid, with a reason', () => {
  const reasons: Array<[string, string, string]> = [
    [
      'wire/invalid_config/ext_conf_multiple_depends_on_for_single_handler.xml',
      'OSTCExtensions.ExampleHandlerLinux',
      'the handler OSTCExtensions.ExampleHandlerLinux 1.0.0 has 2 DependsOn, a single-config handler takes at most one',
    ],
    [
      'wire/invalid_config/ext_conf_multiple_runtime_settings_same_plugin.xml',
      'OSTCExtensions.ExampleHandlerLinux',
      'the handler OSTCExtensions.ExampleHandlerLinux 1.0.0 has 2 RuntimeSettings, a single-config handler takes one',
    ],
    [
      'wire/invalid_config/ext_conf_multiple_settings_for_same_handler.xml',
      'OSTCExtensions.ExampleHandlerLinux',
      'the handler OSTCExtensions.ExampleHandlerLinux 1.0.0 has 2 PluginSettings entries, expected one',
    ],
    [
      'wire/invalid_config/ext_conf_plugin_settings_version_mismatch.xml',
      'OSTCExtensions.ExampleHandlerLinux',
      'PluginSettings Version Mismatch: the handler OSTCExtensions.ExampleHandlerLinux is version 1.0.0 but its PluginSettings have version 1.0.1, 1.0.2',
    ],
    [
      'wire/invalid_config/ext_conf_single_and_multi_config_settings_same_plugin.xml',
      'OSTCExtensions.ExampleHandlerLinux',
      'the handler OSTCExtensions.ExampleHandlerLinux 1.0.0 has both RuntimeSettings and ExtensionRuntimeSettings',
    ],
    [
      'wire/ext_conf_invalid_and_valid_handlers.xml',
      'OSTCExtensions.InvalidExampleHandlerLinux',
      'the handler OSTCExtensions.InvalidExampleHandlerLinux 1.0.0 has both RuntimeSettings and ExtensionRuntimeSettings',
    ],
  ];
  for (const [file, name, reason] of reasons) {
    it(file, () => {
      const c = parseExtensionsConfig(read(file));
      const h = handler(c, name);
      assert.equal(h.invalidReason, reason);
      assert.deepEqual(h.settings, []);
      // The handler is kept (so an error status is reported), and the others stay valid.
      for (const other of c.handlers.filter((x) => x !== h)) assert.equal(other.invalidReason, null, other.name);
    });
  }

  const plugin = (attrs: string, settings: string): string =>
    `<Extensions><Plugins><Plugin name="P.T" version="1.0" ${attrs}/></Plugins><PluginSettings>` +
    `<Plugin name="P.T" version="1.0">${settings}</Plugin></PluginSettings></Extensions>`;

  it('an empty state', () => {
    const h = parseExtensionsConfig(plugin('state=""', '')).handlers[0]!;
    assert.equal(h.invalidReason, 'the handler P.T 1.0 has an empty state in Plugins/Plugin');
  });

  it('a missing or non-numeric seqNo', () => {
    const none = parseExtensionsConfig(plugin('state="enabled"', '<RuntimeSettings>{}</RuntimeSettings>')).handlers[0]!;
    assert.equal(none.invalidReason, 'the settings P.T of the handler P.T 1.0 have no seqNo');
    const text = parseExtensionsConfig(plugin('state="enabled"', '<RuntimeSettings seqNo="x1">{}</RuntimeSettings>')).handlers[0]!;
    assert.equal(text.invalidReason, 'the settings P.T of the handler P.T 1.0 have the seqNo "x1", not a number');
  });

  it('JSON without runtimeSettings, and multi-config entries without a name', () => {
    const noList = parseExtensionsConfig(plugin('state="enabled"', '<RuntimeSettings seqNo="1">{"a":1}</RuntimeSettings>'));
    assert.equal(noList.handlers[0]!.invalidReason, 'the settings P.T of the handler P.T 1.0 have no runtimeSettings array');
    const noName = parseExtensionsConfig(plugin('state="enabled"', '<ExtensionRuntimeSettings seqNo="1">{}</ExtensionRuntimeSettings>'));
    assert.equal(noName.handlers[0]!.invalidReason, 'an ExtensionRuntimeSettings of the multi-config handler P.T 1.0 has no name');
    const depNoName = parseExtensionsConfig(
      plugin(
        'state="enabled"',
        '<DependsOn dependencyLevel="1"/><ExtensionRuntimeSettings seqNo="1" name="e">{}</ExtensionRuntimeSettings>',
      ),
    );
    assert.equal(depNoName.handlers[0]!.invalidReason, 'a DependsOn of the multi-config handler P.T 1.0 has no name');
  });

  it('names that cannot be paths make the handler invalid (handler name, version, multi-config extension name)', () => {
    const cfg = (name: string, version: string, ext = 'e1') =>
      parseExtensionsConfig(
        `<Extensions><Plugins><Plugin name=${JSON.stringify(name)} version=${JSON.stringify(version)} state="enabled" location="https://m"/></Plugins><PluginSettings>` +
          `<Plugin name=${JSON.stringify(name)} version=${JSON.stringify(version)}><ExtensionRuntimeSettings seqNo="1" name=${JSON.stringify(ext)}>{"runtimeSettings":[{"handlerSettings":{}}]}</ExtensionRuntimeSettings></Plugin></PluginSettings></Extensions>`,
      ).handlers[0]!;
    assert.equal(cfg('Microsoft.AKS.Compute.AKS-Engine.Linux.Billing', '1.0.4.7').invalidReason, null, 'real names pass');
    assert.equal(
      cfg('../../../etc/advpwn', '1.0.0').invalidReason,
      'the handler name "../../../etc/advpwn" is not a valid handler name (letters, digits, ".", "_", "-")',
    );
    assert.equal(cfg('..', '1.0').invalidReason, 'the handler name ".." is not a valid handler name (letters, digits, ".", "_", "-")');
    assert.equal(
      cfg('P.T', '1.0/../../x').invalidReason,
      'the version "1.0/../../x" of the handler P.T is not a valid version (dotted numbers)',
    );
    assert.equal(
      cfg('P.T', '1.0', '../../status/x').invalidReason,
      'the extension name "../../status/x" of the handler P.T 1.0 is not a valid extension name (letters, digits, ".", "_", "-")',
    );
    assert.deepEqual(cfg('P.T', '1.0', '../x').settings, [], 'nothing of an invalid handler is kept');
    const vm = (name: string, version: string, ext = 'e1') =>
      parseVmSettings(
        JSON.stringify({
          extensionGoalStatesSource: 'FastTrack',
          extensionGoalStates: [
            {
              name,
              version,
              state: 'enabled',
              location: 'https://m',
              isMultiConfig: true,
              settings: [{ extensionName: ext, extensionState: 'enabled', seqNo: 1 }],
            },
          ],
        }),
      ).handlers[0]!;
    assert.equal(vm('A.B', '1.0').invalidReason, null);
    assert.match(vm('a/b', '1.0').invalidReason ?? '', /^the handler name "a\/b" is not a valid handler name/);
    assert.match(
      vm('A.B', '1.0', 'x\ny').invalidReason ?? '',
      /^the extension name "x\\ny" of the handler A.B is not a valid extension name/,
    );
    assert.deepEqual(vm('A.B', '..').manifestUris, [], 'an invalid handler has nothing to download');
  });

  it('unparseable settings JSON keeps name and seqNo without settings (status can still be reported)', () => {
    const h = parseExtensionsConfig(plugin('state="enabled"', '<RuntimeSettings seqNo="7">{not json</RuntimeSettings>')).handlers[0]!;
    assert.equal(h.invalidReason, null);
    assert.deepEqual(h.settings, [
      {
        name: 'P.T',
        seqNo: 7,
        state: 'enabled',
        dependencyLevel: 0,
        publicSettings: null,
        protectedSettings: null,
        certificateThumbprint: null,
      },
    ]);
  });

  it('a non-numeric dependencyLevel reads as 0', () => {
    const h = parseExtensionsConfig(
      plugin(
        'state="enabled"',
        '<DependsOn dependencyLevel="high"/><RuntimeSettings seqNo="1">{"runtimeSettings":[{"handlerSettings":{}}]}</RuntimeSettings>',
      ),
    ).handlers[0]!;
    assert.equal(h.settings[0]!.dependencyLevel, 0);
  });

  it('refuses a document that is not an ExtensionsConfig', () => {
    assert.throws(
      () => parseExtensionsConfig('<GoalState/>'),
      (e) => isAgentError(e, 'protocol') && e.message === 'the extensions config has the root element GoalState, expected Extensions',
    );
  });
});

// Issue 11: one handler's settings over 1 MiB, or nested over 64 levels, make that handler invalid (never the
// document); the depth is counted without parsing, so a deep text costs no recursion. Upstream has no such limit.
describe('settings limits per handler', () => {
  const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
  const xml = (settings: Record<string, string>) =>
    `<Extensions><Plugins>${Object.keys(settings)
      .map((n) => `<Plugin name="${n}" version="1.0" state="enabled"/>`)
      .join('')}</Plugins><PluginSettings>${Object.entries(settings)
      .map(
        ([n, pub]) =>
          `<Plugin name="${n}" version="1.0"><RuntimeSettings seqNo="0">{"runtimeSettings":[{"handlerSettings":{"publicSettings":${pub}}}]}</RuntimeSettings></Plugin>`,
      )
      .join('')}</PluginSettings></Extensions>`;

  it('jsonDepth counts objects and arrays outside strings, and stops past the limit', () => {
    assert.equal(jsonDepth('{"a":[1,{"b":"{[{[{["}]}'), 3);
    assert.equal(jsonDepth('"\\"'), 0);
    assert.equal(jsonDepth(String.raw`{"a":"\"{"}`), 1);
    assert.equal(jsonDepth(nested(100_000), 64), 65, 'stops at the first level past the limit');
  });

  it('ExtensionsConfig: too large or too deep makes that handler invalid with the sentence; the others stay valid', () => {
    const c = parseExtensionsConfig(
      xml({
        'Big.One': JSON.stringify({ blob: 'x'.repeat(MAX_SETTINGS_BYTES_PER_HANDLER) }),
        'Deep.One': nested(MAX_SETTINGS_DEPTH + 1),
        'Edge.One': nested(MAX_SETTINGS_DEPTH - 4),
        'Fine.One': '{"a":1}',
      }),
    );
    assert.match(
      handler(c, 'Big.One').invalidReason ?? '',
      /^the settings of the handler Big\.One 1\.0 are \d+ bytes, over the limit of 1048576 bytes per handler$/,
    );
    assert.equal(
      handler(c, 'Deep.One').invalidReason,
      'the settings of the handler Deep.One 1.0 nest more than 64 levels deep, over the limit',
    );
    assert.deepEqual(handler(c, 'Big.One').settings, []);
    assert.equal(handler(c, 'Edge.One').invalidReason, null, '64 levels, the handlerSettings wrapping included, pass');
    assert.equal(handler(c, 'Fine.One').invalidReason, null);
  });

  it('vmSettings: the same limits on publicSettings and protectedSettings', () => {
    const vm = (publicSettings: string, protectedSettings?: string) =>
      parseVmSettings(
        JSON.stringify({
          extensionGoalStatesSource: 'FastTrack',
          extensionGoalStates: [
            {
              name: 'A.B',
              version: '1.0',
              state: 'enabled',
              location: 'https://m',
              settingsSeqNo: 0,
              settings: [
                { publicSettings, ...(protectedSettings ? { protectedSettings, protectedSettingsCertThumbprint: 'A'.repeat(40) } : {}) },
              ],
            },
          ],
        }),
      ).handlers[0]!;
    assert.equal(vm('{"a":1}').invalidReason, null);
    assert.match(
      vm('{}', 'Q'.repeat(MAX_SETTINGS_BYTES_PER_HANDLER)).invalidReason ?? '',
      /are \d+ bytes, over the limit of 1048576 bytes per handler/,
    );
    assert.match(vm(nested(65)).invalidReason ?? '', /nest more than 64 levels deep/);
  });
});

describe('vmSettings rules (§3.4)', () => {
  const vmSettings = read('hostgaplugin/vm_settings.json');

  it('reads the header, keeping ticks beyond 2^53 exact', () => {
    const v = parseVmSettings(vmSettings);
    assert.equal(v.hostGAPluginVersion, '1.0.8.133');
    assert.equal(v.schemaVersion, '0.0');
    assert.equal(v.source, 'FastTrack');
    assert.equal(v.onHold, true);
    assert.equal(v.metadata.createdOnTicks, 637726657706205299n);
    assert.equal(v.metadata.inSvdSeqNo, 1);
    assert.deepEqual(v.statusUploadBlob, {
      url: 'https://dcrcl3a0xs.blob.core.windows.net/$system/edp0plkw2b.86f4ae0a-61f8-48ae-9199-40f402d56864.status?sv=2018-03-28&sr=b&sk=system-1&sig=KNWgC2%3d&se=9999-01-01T00%3a00%3a00Z&sp=w',
      type: 'BlockBlob',
    });
  });

  it('parses publicSettings from its JSON string and keeps absent settings null (§10 item 15)', () => {
    const v = parseVmSettings(vmSettings);
    const cse = v.handlers.find((h) => h.name === 'Microsoft.Azure.Extensions.CustomScript')!;
    assert.deepEqual(cse.settings[0]!.publicSettings, { commandToExecute: "echo 'cee174d4-4daa-4b07-9958-53b9649445c2'" });
    assert.equal(cse.settings[0]!.protectedSettings, null);
    assert.equal(cse.settings[0]!.certificateThumbprint, null);
    const vmAccess = v.handlers.find((h) => h.name === 'Microsoft.OSTCExtensions.VMAccessForLinux')!;
    assert.equal(vmAccess.settings[0]!.publicSettings, null);
    assert.equal(vmAccess.settings[0]!.certificateThumbprint, 'F6ABAA61098A301EBB8A571C3C7CF77F355F7FA9');
  });

  it('matches keys case-insensitively', () => {
    const v = parseVmSettings(
      JSON.stringify({
        HOSTGAPLUGINVERSION: '1.0.8.140',
        ExtensionGoalStatesSource: 'Fabric',
        statusuploadblob: { STATUSBLOBTYPE: 'PageBlob', Value: 'https://blob/x' },
        ExtensionGoalStates: [
          {
            NAME: 'A.B',
            Version: '1.0',
            STATE: 'enabled',
            Location: 'https://m',
            SettingsSeqNo: 3,
            Settings: [{ PublicSettings: '{"K":1}' }],
          },
        ],
      }),
    );
    assert.equal(v.hostGAPluginVersion, '1.0.8.140');
    assert.equal(v.source, 'Fabric');
    assert.deepEqual(v.statusUploadBlob, { url: 'https://blob/x', type: 'PageBlob' });
    assert.deepEqual(v.handlers[0]!.settings[0]!.publicSettings, { K: 1 });
    assert.equal(v.handlers[0]!.settings[0]!.seqNo, 3);
  });

  it('defaults: no statusUploadBlob → url null, BlockBlob; no source → UNKNOWN; no ids → zero GUID', () => {
    const v = parseVmSettings('{}');
    assert.deepEqual(v.statusUploadBlob, { url: null, type: 'BlockBlob' });
    assert.equal(v.source, 'UNKNOWN');
    assert.equal(v.metadata.activityId, GUID_ZERO);
    assert.equal(v.metadata.createdOnTicks, 0n);
    assert.equal(parseVmSettings(read('hostgaplugin/vm_settings-invalid_blob_type.json')).statusUploadBlob.type, 'BlockBlob');
  });

  it('malformed JSON is an AgentError of kind json, in one sentence', () => {
    assert.throws(
      () => parseVmSettings(read('hostgaplugin/vm_settings-parse_error.json')),
      (e) => isAgentError(e, 'json') && e.message === "the vmSettings are not valid JSON (Unexpected token 'T')",
    );
    assert.throws(
      () => parseVmSettings('{"a":'),
      (e) => isAgentError(e, 'json') && /^the vmSettings are not valid JSON \(.+\)$/.test(e.message),
    );
  });

  it('protectedSettings without a thumbprint is a parse error', () => {
    const doc = JSON.parse(vmSettings);
    delete doc.extensionGoalStates[0].settings[0].protectedSettingsCertThumbprint;
    assert.throws(
      () => parseVmSettings(JSON.stringify(doc)),
      (e) =>
        isAgentError(e, 'protocol') &&
        e.message ===
          'the vmSettings are invalid: the extension Microsoft.Azure.Monitor.AzureMonitorLinuxAgent: protectedSettings come without protectedSettingsCertThumbprint' &&
        !e.message.includes('MIIB'),
    );
  });

  it('refuses other shape errors with a sentence naming the problem', () => {
    const bad = (doc: unknown, pattern: RegExp, kind: 'protocol' | 'json' = 'protocol') =>
      assert.throws(
        () => parseVmSettings(JSON.stringify(doc)),
        (e) => isAgentError(e, kind) && pattern.test(e.message),
      );
    const ext = { name: 'A.B', version: '1', state: 'enabled', location: 'https://m', settingsSeqNo: 0 };
    bad([], /^the vmSettings are invalid: the document is not a JSON object$/);
    bad({ extensionGoalStates: {} }, /extensionGoalStates should be an array$/);
    bad({ extensionGoalStates: [{ ...ext, state: 'running' }] }, /state "running" is not one of enabled, disabled, uninstall$/);
    bad({ extensionGoalStates: [{ ...ext, settings: [{}, {}] }] }, /a single-config extension has 2 settings$/);
    bad(
      { extensionGoalStates: [{ ...ext, settings: [{ publicSettings: '{x' }] }] },
      /publicSettings for A\.B that are not valid JSON$/,
      'json',
    );
    bad({ statusUploadBlob: { statusBlobType: 'BlockBlob' } }, /statusUploadBlob\.value is missing$/);
    bad({ requiredFeatures: [{}] }, /requiredFeatures\[\]\.name is missing$/);
    bad(
      {
        extensionGoalStates: [
          {
            ...ext,
            isMultiConfig: true,
            settings: [{ seqNo: 1, extensionName: 'x', extensionState: 'enabled' }],
            dependsOn: [{ name: 'y', dependencyLevel: 1 }],
          },
        ],
      },
      /dependsOn names y, which has no settings$/,
    );
  });
});
