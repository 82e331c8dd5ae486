// Certificates a listener names by file, read once when the listener arrives (never per handshake):
// Istio's `file-cert:CERT~KEY` and `file-root:CA` SDS names, which istio-agent serves from the gateway
// pod's files (SdsCertificateConfig), and Envoy's own `tls_certificates` / `trusted_ca` data sources.
// A file that cannot be read refuses the listener, naming the file and nothing more (whether it
// exists is not told to whoever sees the NACK; the errno stays in the error's `cause`). Only a regular file
// of at most MAX_PEM_BYTES is read: a FIFO or device would hold the event loop or fill the heap.
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { TlsConfigError } from './server-tls-params.ts';

const FILE_CERT = 'file-cert:';
const FILE_ROOT = 'file-root:';

export interface KeyPairPem {
  readonly cert: string;
  readonly key: string;
}

/** Envoy's DataSource. */
export interface EnvoyDataSource {
  filename?: string;
  inline_string?: string;
  inline_bytes?: string;
}

/** Far above any certificate chain or CA bundle. */
export const MAX_PEM_BYTES = 1024 * 1024;

function readPem(file: string, field: string): string {
  let fd: number | undefined;
  try {
    // Opening a device or FIFO can act (rewind a tape, release a FIFO's writer, take a terminal), so
    // one is refused before it is opened. The fstat after open holds against a path swapped in
    // between; for that open, O_NONBLOCK keeps a FIFO from waiting for a writer and O_NOCTTY a
    // terminal from becoming the proxy's.
    if (!statSync(file).isFile()) throw notRegular();
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular();
    if (st.size > MAX_PEM_BYTES) throw Object.assign(new Error(`larger than ${MAX_PEM_BYTES} bytes`), { code: 'EFBIG' });
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.toString('utf8', 0, n);
  } catch (err) {
    throw Object.assign(new TlsConfigError(field, `cannot read ${file}`), { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function notRegular(): Error {
  return Object.assign(new Error('not a regular file'), { code: 'EFTYPE' });
}

/** A DataSource's PEM; undefined when it holds none. */
export function dataSourcePem(ds: EnvoyDataSource | undefined, field: string): string | undefined {
  if (ds?.filename) return readPem(ds.filename, `${field}.filename`);
  if (ds?.inline_string) return ds.inline_string;
  if (ds?.inline_bytes) return Buffer.from(ds.inline_bytes, 'base64').toString('utf8');
  return undefined;
}

/** Whether an SDS name is one istio-agent would serve from files. */
export function isFileSecret(name: string): boolean {
  return name.startsWith(FILE_CERT) || name.startsWith(FILE_ROOT);
}

/** The key pair of a `file-cert:CERT~KEY` name. */
export function readFileCert(name: string, field: string): KeyPairPem {
  const parts = name.slice(FILE_CERT.length).split('~');
  if (!name.startsWith(FILE_CERT) || parts.length !== 2 || !parts[0] || !parts[1]) throw new TlsConfigError(field, `${name} is not a file-cert:CERT~KEY name`);
  return { cert: readPem(parts[0], field), key: readPem(parts[1], field) };
}

/** The CA bundle of a `file-root:CA` name. */
export function readFileRoot(name: string, field: string): string {
  const file = name.slice(FILE_ROOT.length);
  if (!name.startsWith(FILE_ROOT) || !file) throw new TlsConfigError(field, `${name} is not a file-root:CA name`);
  return readPem(file, field);
}
