// Throw-away certificates for the HAProxy mTLS pair, made with openssl at bench start: one CA and an
// ECDSA P-256 leaf per side (the same key type the Outrigger CA issues).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from './processes.ts';

export interface PairCerts {
  caFile: string;
  /** PEM with certificate and key, as HAProxy's `crt` wants. */
  clientPem: string;
  serverPem: string;
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function leaf(dir: string, name: string): Promise<string> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const crt = path.join(dir, `${name}.crt`);
  await runCommand('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], 20_000);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await runCommand('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', crt], 20_000);
  const pem = path.join(dir, `${name}.pem`);
  writeFileSync(pem, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'));
  return pem;
}

export async function makePairCerts(dir: string): Promise<PairCerts> {
  await runCommand('openssl', ['req', '-x509', ...ec, '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-subj', '/CN=bench-ca', '-days', '2'], 20_000);
  return { caFile: path.join(dir, 'ca.crt'), clientPem: await leaf(dir, 'client'), serverPem: await leaf(dir, 'server') };
}
