// A test PKI for extension package signatures, made with the host's openssl CLI (tests only): a root CA, an
// intermediate CA and a code-signing leaf, as the Microsoft chain is (leaf → PCA → root), and detached CMS
// signatures of files in the encodedSignature form (base64 DER) the goal state carries.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(args: string[]): Buffer {
  const r = spawnSync('openssl', args, { maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

export interface TestPki {
  dir: string;
  rootPem: string;
  /** Leaf and key paths, and the intermediate to carry in the signature. */
  leafCert: string;
  leafKey: string;
  intermediateCert: string;
}

const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
const LEAF_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n';

/** Root → intermediate → leaf in `dir`; `key` picks RSA or EC keys; `intermediateIsCa` false makes a broken chain. */
export function makeTestPki(dir: string, name = 'Test', opts: { key?: 'rsa' | 'ec'; intermediateIsCa?: boolean } = {}): TestPki {
  const p = (f: string) => join(dir, `${name}-${f}`);
  const newkey = opts.key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  writeFileSync(p('ca.ext'), CA_EXT);
  writeFileSync(p('leaf.ext'), LEAF_EXT);
  writeFileSync(p('notca.ext'), LEAF_EXT);
  openssl([
    'req',
    '-x509',
    '-nodes',
    ...newkey,
    '-subj',
    `/CN=${name} Root CA`,
    '-days',
    '30',
    '-keyout',
    p('root.key'),
    '-out',
    p('root.pem'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = (subject: string, out: string, caCert: string, caKey: string, ext: string) => {
    openssl(['req', '-new', '-nodes', ...newkey, '-subj', subject, '-keyout', p(`${out}.key`), '-out', p(`${out}.csr`)]);
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${out}.csr`),
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      ext,
      '-out',
      p(`${out}.pem`),
    ]);
  };
  issue(
    `/CN=${name} Code Signing PCA`,
    'pca',
    p('root.pem'),
    p('root.key'),
    opts.intermediateIsCa === false ? p('notca.ext') : p('ca.ext'),
  );
  issue(`/CN=${name} Publisher`, 'leaf', p('pca.pem'), p('pca.key'), p('leaf.ext'));
  return {
    dir,
    rootPem: readFileSync(p('root.pem'), 'utf8'),
    leafCert: p('leaf.pem'),
    leafKey: p('leaf.key'),
    intermediateCert: p('pca.pem'),
  };
}

/** The base64 DER detached CMS signature of `file` (sha384, signed attributes, the intermediate included). */
export function signFile(pki: TestPki, file: string, opts: { noAttributes?: boolean; withoutIntermediate?: boolean } = {}): string {
  const der = openssl([
    'cms',
    '-sign',
    '-binary',
    '-md',
    'sha384',
    '-outform',
    'DER',
    '-in',
    file,
    '-signer',
    pki.leafCert,
    '-inkey',
    pki.leafKey,
    ...(opts.withoutIntermediate ? [] : ['-certfile', pki.intermediateCert]),
    ...(opts.noAttributes ? ['-noattr'] : []),
  ]);
  return der.toString('base64');
}
