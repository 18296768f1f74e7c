// The Certificates document (docs/protocol.md §2.8): a CMS envelope (base64) holding a PKCS#12.
import { findText } from '../../xml/index.ts';
import { parseDocument } from './common.ts';

export const PFX_FORMAT = 'Pkcs7BlobWithPfxContents';

export interface CertificatesDocument {
  readonly incarnation: string | null;
  /** null when missing or empty. */
  readonly format: string | null;
  /** The base64 CMS text as received (multi-line); null when missing or empty. */
  readonly data: string | null;
}

export function parseCertificates(xml: string): CertificatesDocument {
  const root = parseDocument(xml, 'certificates document', 'CertificateFile');
  return {
    incarnation: findText(root, 'Incarnation'),
    format: findText(root, 'Format'),
    data: findText(root, 'Data'),
  };
}

/**
 * §2.8 step 2: there is something to decrypt only when Data is present and Format is absent/empty
 * or Pkcs7BlobWithPfxContents. Anything else means "no certificates", not an error.
 */
export function isPfxPackage(doc: CertificatesDocument): boolean {
  return doc.data !== null && (doc.format === null || doc.format === PFX_FORMAT);
}
