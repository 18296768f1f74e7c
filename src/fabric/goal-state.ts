// One goal-state fetch (docs/protocol.md §2.4): goal state → (on a new incarnation, or when forced) its
// documents in the order of §2.4 → certificates, as one typed object. The HostGAPlugin context is refreshed
// on every fetch, and a 410 on a document re-fetches the goal state once (§10 item 2).
import { transportCertHeader } from '../crypto/index.ts';
import { describeError, isAgentError } from '../util/errors.ts';
import { log } from '../log/logger.ts';
import { writeFileAtomic, writeFileAtomicIfChanged } from '../os/atomic-file.ts';
import type { CertificateSummary } from './certificates.ts';
import {
  isPfxPackage,
  parseCertificates,
  parseExtensionsConfig,
  parseHostingEnvironment,
  type ExtensionsConfig,
  type GoalState,
} from './documents/index.ts';
import type { HostPluginContext } from './hostplugin.ts';
import type { TransportCertPair } from './transport-cert-files.ts';
import type { WireServerClient } from './wireserver.ts';

export type { CertificateSummary };

/** Decrypts the CMS Data of the Certificates document and writes <THUMBPRINT>.crt/.prv into libDir (src/crypto). */
export type InstallCertificates = (args: {
  dataBase64: string;
  transportKeyPem: string;
  transportCertPem: string;
  libDir: string;
  opensslPath: string | null;
}) => Promise<CertificateSummary[]>;

export interface FullGoalState {
  /** Opaque; compared for inequality only (§10 item 1). */
  incarnation: string;
  containerId: string;
  roleInstanceId: string;
  configName: string;
  deploymentId: string;
  vmName: string;
  roleName: string;
  deploymentName: string;
  /** null when the goal state names no ExtensionsConfig (an empty extensions goal state, §2.4). */
  extensionsConfig: ExtensionsConfig | null;
  extensionsConfigXml: string | null;
  sharedConfigXml: string;
  certificates: CertificateSummary[];
  /**
   * Why the Certificates document could not be retrieved or installed (one sentence), or null. A bad Certificates
   * document costs only what needs a certificate (issue 11 finding 9): the rest of the goal state is used, and the
   * certificates are asked for again on the next fetch until they arrive.
   */
  certificatesError: string | null;
  /** The RemoteAccess document, raw (processed by the JIT-account code), or null. */
  remoteAccessXml: string | null;
  goalStateXml: string;
  urls: Pick<
    GoalState,
    'hostingEnvironmentConfigUrl' | 'sharedConfigUrl' | 'extensionsConfigUrl' | 'certificatesUrl' | 'remoteAccessInfoUrl'
  >;
}

export interface GoalStateFetcherOptions {
  wire: WireServerClient;
  libDir: string;
  /** A promise while the pair is still being made (a new VM): only the certificates need it. */
  transport: TransportCertPair | Promise<TransportCertPair>;
  installCertificates: InstallCertificates;
  opensslPath?: string | null;
}

export const CERTIFICATES_XML = 'Certificates.xml';
export const SHARED_CONFIG_XML = 'SharedConfig.xml';

export class GoalStateFetcher {
  readonly #o: GoalStateFetcherOptions;
  #current: FullGoalState | null = null;
  #context: HostPluginContext = { containerId: '', configName: '', deploymentId: '' };

  constructor(opts: GoalStateFetcherOptions) {
    this.#o = opts;
  }

  /** The HostGAPlugin headers of the latest goal state (for HostPluginClient's `context`). */
  context(): HostPluginContext {
    return this.#context;
  }

  get current(): FullGoalState | null {
    return this.#current;
  }

  /**
   * Fetches the goal state; fetches its documents when the incarnation differs (string compare) from the last one
   * seen, or when `force`. `changed` says whether the documents were (re)fetched.
   */
  async fetch(force = false): Promise<{ goalState: FullGoalState; changed: boolean }> {
    let gs = await this.#fetchGoalState();
    const prev = this.#current;
    if (prev && !force && prev.incarnation === gs.goalState.incarnation) {
      const updated = { ...prev, ...this.#ids(gs.goalState), goalStateXml: gs.xml, ...(await this.#certificatesAgain(prev)) };
      this.#current = updated;
      return { goalState: updated, changed: false };
    }
    let full: FullGoalState;
    try {
      full = await this.#fetchDocuments(gs.goalState, gs.xml);
    } catch (e) {
      if (!isAgentError(e, 'resource-gone')) throw e;
      log.info(`a goal-state document is gone (${describeError(e)}); fetching the goal state again`);
      gs = await this.#fetchGoalState();
      full = await this.#fetchDocuments(gs.goalState, gs.xml);
    }
    if (prev && prev.incarnation !== full.incarnation) log.info(`new goal state: incarnation ${prev.incarnation} → ${full.incarnation}`);
    this.#current = full;
    return { goalState: full, changed: true };
  }

  async #fetchGoalState(): ReturnType<WireServerClient['fetchGoalState']> {
    const gs = await this.#o.wire.fetchGoalState();
    // §2.4: refreshed on every fetch, even without an incarnation change.
    this.#context = { containerId: gs.goalState.containerId, configName: gs.goalState.configName, deploymentId: gs.goalState.deploymentId };
    return gs;
  }

  #ids(g: GoalState) {
    return {
      incarnation: g.incarnation,
      containerId: g.containerId,
      roleInstanceId: g.roleInstanceId,
      configName: g.configName,
      deploymentId: g.deploymentId,
    };
  }

  /**
   * §2.4 lists ExtensionsConfig, HostingEnvironmentConfig, SharedConfig, Certificates, RemoteAccessInfo in this
   * order; they are independent, so they are asked for side by side (issue 14: four round trips and the
   * WireServer's encryption of the certificates no longer add up). A failure is reported as the sequence would
   * have: the first in that order.
   */
  async #fetchDocuments(g: GoalState, goalStateXml: string): Promise<FullGoalState> {
    const wire = this.#o.wire;
    const transportP = Promise.resolve(this.#o.transport);
    const [extensionsConfigXml, hostingXml, sharedConfigXml, certs, remoteAccessXml] = await firstFailureInOrder([
      g.extensionsConfigUrl ? wire.fetchDocument(g.extensionsConfigUrl) : Promise.resolve(null),
      wire.fetchDocument(g.hostingEnvironmentConfigUrl),
      wire.fetchDocument(g.sharedConfigUrl),
      transportP.then((t) => this.#certificatesOf(g.certificatesUrl, t)),
      g.remoteAccessInfoUrl
        ? transportP.then((t) => wire.fetchDocumentWithCert(g.remoteAccessInfoUrl!, transportCertHeader(t.certPem)))
        : Promise.resolve(null),
    ]);
    const extensionsConfig: ExtensionsConfig | null = extensionsConfigXml === null ? null : parseExtensionsConfig(extensionsConfigXml);
    const hosting = parseHostingEnvironment(hostingXml);
    saveCopy(`${this.#o.libDir}/${SHARED_CONFIG_XML}`, sharedConfigXml);
    const { certificates, certificatesError } = certs;
    return {
      ...this.#ids(g),
      vmName: hosting.vmName,
      roleName: hosting.roleName,
      deploymentName: hosting.deploymentName,
      extensionsConfig,
      extensionsConfigXml,
      sharedConfigXml,
      certificates,
      certificatesError,
      remoteAccessXml,
      goalStateXml,
      urls: {
        hostingEnvironmentConfigUrl: g.hostingEnvironmentConfigUrl,
        sharedConfigUrl: g.sharedConfigUrl,
        extensionsConfigUrl: g.extensionsConfigUrl,
        certificatesUrl: g.certificatesUrl,
        remoteAccessInfoUrl: g.remoteAccessInfoUrl,
      },
    };
  }

  /** The certificates, or none and why: only a 410 (the goal state moved on) fails the whole fetch. */
  async #certificatesOf(
    url: string | null,
    transport: TransportCertPair,
  ): Promise<Pick<FullGoalState, 'certificates' | 'certificatesError'>> {
    if (!url) return { certificates: [], certificatesError: null };
    try {
      return { certificates: await this.#fetchCertificates(url, transport), certificatesError: null };
    } catch (e) {
      if (isAgentError(e, 'resource-gone')) throw e;
      const why = describeError(e);
      log.error(`the goal state is used without its certificates: ${why}`);
      return { certificates: [], certificatesError: why };
    }
  }

  /** The certificates of the current incarnation asked for again while they failed; {} when they did not. */
  async #certificatesAgain(prev: FullGoalState): Promise<Partial<Pick<FullGoalState, 'certificates' | 'certificatesError'>>> {
    if (prev.certificatesError === null || !prev.urls.certificatesUrl) return {};
    try {
      const certificates = await this.#fetchCertificates(prev.urls.certificatesUrl, await this.#o.transport);
      log.info(`the certificates of incarnation ${prev.incarnation} were retrieved after all (${certificates.length})`);
      return { certificates, certificatesError: null };
    } catch (e) {
      return { certificatesError: describeError(e) };
    }
  }

  /** §2.8: save Certificates.xml; no Data or a non-PFX format means no certificates; else decrypt and install. */
  #fetchCertificates(url: string, transport: TransportCertPair): Promise<CertificateSummary[]> {
    const { libDir } = this.#o;
    return this.#o.wire.fetchCertificates(url, transportCertHeader(transport.certPem), async (xml) => {
      const doc = parseCertificates(xml);
      // a copy for the record (nothing reads it back): atomic, not fsynced — it differs on every fetch (re-encrypted)
      writeFileAtomic(`${libDir}/${CERTIFICATES_XML}`, xml, { mode: 0o600, mkdir: true, durable: false });
      if (!isPfxPackage(doc)) {
        log.info(`the Certificates document holds no PFX package (format ${doc.format ?? 'none'}); no certificates`);
        return [];
      }
      return this.#o.installCertificates({
        dataBase64: doc.data!,
        transportKeyPem: transport.keyPem,
        transportCertPem: transport.certPem,
        libDir,
        opensslPath: this.#o.opensslPath ?? null,
      });
    });
  }
}

/** Waits for all; throws the failure of the first that failed in the given order, else their values. */
async function firstFailureInOrder<T extends readonly unknown[]>(
  ps: readonly [...T],
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(ps);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/**
 * The agent's copy of a document for others to read (SharedConfig.xml): a full Lib.Dir keeps the previous copy
 * (the write is atomic) and costs this copy only, never the goal state (issue 11 finding 10).
 */
function saveCopy(path: string, text: string): void {
  try {
    writeFileAtomicIfChanged(path, text, { mode: 0o644, mkdir: true });
  } catch (e) {
    log.error(`the goal state is used without saving ${path}: ${describeError(e)}`);
  }
}
