// Where the CA keeps its material: Istio's `cacerts` layout (ca-cert.pem, ca-key.pem, root-cert.pem,
// cert-chain.pem) plus `trust-bundle.pem` for extra roots during root rotation. Key files are 0600.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, writeFileAtomic } from '../runtime/write-atomic.ts';
import { CaError } from './ca-error.ts';

export interface CaMaterial {
  /** The certificate that signs workload certificates (the root itself when self-signed). */
  caCertPem: string;
  caKeyPem: string;
  rootCertPem: string;
  /** From the signing certificate up to the root, PEM concatenated (may be empty for self-signed). */
  certChainPem: string;
  /** Every trusted root, including `rootCertPem`. */
  trustBundlePem: string;
}

const files = {
  caCert: 'ca-cert.pem',
  caKey: 'ca-key.pem',
  root: 'root-cert.pem',
  chain: 'cert-chain.pem',
  bundle: 'trust-bundle.pem',
} as const;

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaError('CA_LOAD_FAILED', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads the material from a directory; undefined when it holds no CA yet. */
export function readCaMaterial(dir: string): CaMaterial | undefined {
  const caCertPem = readOptional(path.join(dir, files.caCert));
  const caKeyPem = readOptional(path.join(dir, files.caKey));
  if (caCertPem === undefined && caKeyPem === undefined) return undefined;
  if (caCertPem === undefined || caKeyPem === undefined) {
    throw new CaError('CA_LOAD_FAILED', `${dir} must hold both ${files.caCert} and ${files.caKey}`);
  }
  const rootCertPem = readOptional(path.join(dir, files.root)) ?? caCertPem;
  const certChainPem = readOptional(path.join(dir, files.chain)) ?? '';
  const trustBundlePem = readOptional(path.join(dir, files.bundle)) ?? rootCertPem;
  return { caCertPem, caKeyPem, rootCertPem, certChainPem, trustBundlePem };
}


/** Writes every file with mode 0600 (replace by rename, so a crash never leaves half a key). */
export function writeCaMaterial(dir: string, m: CaMaterial): void {
  makePrivateDir(dir);
  writeFileAtomic(path.join(dir, files.caKey), m.caKeyPem, { mode: 0o600 });
  writeFileAtomic(path.join(dir, files.caCert), m.caCertPem, { mode: 0o600 });
  writeFileAtomic(path.join(dir, files.root), m.rootCertPem, { mode: 0o600 });
  writeFileAtomic(path.join(dir, files.chain), m.certChainPem, { mode: 0o600 });
  writeFileAtomic(path.join(dir, files.bundle), m.trustBundlePem, { mode: 0o600 });
}
