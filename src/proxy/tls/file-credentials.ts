// Certificates a listener or a cluster names by file: Istio's `file-cert:CERT~KEY` and `file-root:CA` SDS
// names, which istio-agent serves from the pod's files (SdsCertificateConfig), and Envoy's own
// `tls_certificates` / `trusted_ca` data sources. They are read when the listener or cluster arrives
// (never per handshake), and again, off the event loop, when a file changes (file-credential-watch.ts).
// A file that cannot be read refuses the listener or cluster, naming the file and nothing more (whether it
// exists is not told to whoever sees the NACK; the errno stays in the error's `cause`). Only a regular file
// of at most MAX_PEM_BYTES is read: a FIFO or device would hold the event loop or fill the heap.
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import tls from 'node:tls';
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
    fd = openSync(file, OPEN_FLAGS);
    const buf = Buffer.alloc(checkedSize(fstatSync(fd)));
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

/** readPem off the event loop, with its checks: a changed file is read again while handshakes go on. */
async function readPemAsync(file: string, field: string): Promise<string> {
  try {
    if (!(await stat(file)).isFile()) throw notRegular();
    const h = await open(file, OPEN_FLAGS);
    try {
      const buf = Buffer.alloc(checkedSize(await h.stat()));
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await h.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return buf.toString('utf8', 0, n);
    } finally {
      await h.close();
    }
  } catch (err) {
    throw Object.assign(new TlsConfigError(field, `cannot read ${file}`), { cause: err });
  }
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The size to read of an opened file: a regular file (again, against a path swapped in) within the cap. */
function checkedSize(st: Stats): number {
  if (!st.isFile()) throw notRegular();
  if (st.size > MAX_PEM_BYTES) throw Object.assign(new Error(`larger than ${MAX_PEM_BYTES} bytes`), { code: 'EFBIG' });
  return st.size;
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

/** The files of a `file-cert:CERT~KEY` name. */
export function fileCertPaths(name: string, field: string): { cert: string; key: string } {
  const [cert, key, ...rest] = name.slice(FILE_CERT.length).split('~');
  if (!name.startsWith(FILE_CERT) || rest.length > 0 || !cert || !key) throw new TlsConfigError(field, `${name} is not a file-cert:CERT~KEY name`);
  return { cert, key };
}

/** The file of a `file-root:CA` name. */
export function fileRootPath(name: string, field: string): string {
  const file = name.slice(FILE_ROOT.length);
  if (!name.startsWith(FILE_ROOT) || !file) throw new TlsConfigError(field, `${name} is not a file-root:CA name`);
  return file;
}

/** The key pair of a `file-cert:CERT~KEY` name. */
export function readFileCert(name: string, field: string): KeyPairPem {
  const { cert, key } = fileCertPaths(name, field);
  return { cert: readPem(cert, field), key: readPem(key, field) };
}

/** The CA bundle of a `file-root:CA` name. */
export function readFileRoot(name: string, field: string): string {
  return readPem(fileRootPath(name, field), field);
}

/** A part of a credential: a file (read again when it changes) or PEM given inline (fixed). */
export type PemSource = { readonly file: string } | { readonly pem: string };

/**
 * A credential read from files, and how to read it again. `id` names it by its sources, so listeners
 * and clusters naming the same files share one (and its watch).
 */
export interface FileCredential {
  readonly id: string;
  readonly files: readonly string[];
  /**
   * Reads it again and checks it can be served; throws naming its files, never quoting them. `warn` hears
   * of a part left out of what is served (a CA certificate that does not parse).
   */
  load(warn?: (message: string) => void): Promise<KeyPairPem | string>;
}

const sourceId = (s: PemSource) => ('file' in s ? `file:${s.file}` : `pem#${createHash('sha256').update(s.pem).digest('hex')}`);
const sourceName = (s: PemSource, inline: string) => ('file' in s ? s.file : inline);
const loadSource = (s: PemSource, field: string) => ('file' in s ? readPemAsync(s.file, field) : Promise.resolve(s.pem));

/**
 * A key pair with a part in a file. As istio-agent's generateKeyCertFromExistingFiles (tls.LoadX509KeyPair),
 * a pair is served only once its certificate parses and its key matches it: a certificate written before
 * its key is not.
 */
export function keyPairCredential(cert: PemSource, key: PemSource, field: string): FileCredential {
  return {
    id: `pair:${sourceId(cert)}\n${sourceId(key)}`,
    files: [cert, key].flatMap((s) => ('file' in s ? [s.file] : [])),
    async load() {
      const pair = { cert: await loadSource(cert, field), key: await loadSource(key, field) };
      checkKeyPair(pair, sourceName(cert, 'the inline certificate'), sourceName(key, 'the inline key'), field);
      return pair;
    },
  };
}

/** A `file-cert:CERT~KEY` name: its two files, the pair they hold now, and how to read it again. */
export function fileCertSecret(name: string, field: string): { cert: string; key: string; pem: KeyPairPem; credential: FileCredential } {
  const files = fileCertPaths(name, field);
  return { ...files, pem: readFileCert(name, field), credential: keyPairCredential({ file: files.cert }, { file: files.key }, field) };
}

/** A pair of Envoy data sources with a part in a file: how to read it again (none when both are inline). */
export function dataSourcePairCredential(cert: EnvoyDataSource | undefined, key: EnvoyDataSource | undefined, pem: KeyPairPem, field: string): FileCredential | undefined {
  if (!cert?.filename && !key?.filename) return undefined;
  const source = (ds: EnvoyDataSource | undefined, inline: string): PemSource => (ds?.filename ? { file: ds.filename } : { pem: inline });
  return keyPairCredential(source(cert, pem.cert), source(key, pem.key), field);
}

/**
 * Throws unless the certificate parses and the key matches it (tls.LoadX509KeyPair): the compile checks a
 * pair as a reload does, so a pair read mid-rotation is caught naming its files (a listener's chain then
 * waits for the watch to read a matching pair; a cluster is refused), not an OpenSSL error thrown while
 * listeners are being swapped.
 */
export function checkKeyPair(pair: KeyPairPem, certName: string, keyName: string, field: string): void {
  // Every listener or cluster update compiles every chain again (~0.3 ms a check): a pair that passed as
  // read now is not checked again.
  const where = `${certName}\n${keyName}`;
  const read = createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
  if (passed.get(where) === read) return;
  try {
    // An empty file (one being rewritten in place) sets no certificate in a context: it must parse.
    new X509Certificate(pair.cert);
    tls.createSecureContext(pair);
  } catch (err) {
    throw Object.assign(new TlsConfigError(field, `${certName} and ${keyName} are not a certificate and its key`), { cause: err });
  }
  if (passed.size >= MAX_PASSED) passed.clear();
  passed.set(where, read);
}

/** The digest of the last pair that passed, by its files (or inline names); bounded as config is. */
const passed = new Map<string, string>();
const MAX_PASSED = 4096;

/**
 * A CA bundle in a file. As istio-agent's generateRootCertFromExistingFile (ParseRootCerts), a certificate
 * that does not parse is left out (with a warning), and a bundle with none is not served. A bundle ending
 * in a BEGIN with no END is being written: it is read again, as one with no certificate.
 */
export function caCredential(file: string, field: string): FileCredential {
  return {
    id: `root:${file}`,
    files: [file],
    async load(warn) {
      const text = await readPemAsync(file, field);
      const blocks = text.match(PEM_CERTIFICATE) ?? [];
      const lastEnd = [...text.matchAll(PEM_END)].at(-1)?.index ?? -1;
      if (text.lastIndexOf('-----BEGIN ') > lastEnd) throw new TlsConfigError(field, `${file} ends in an unfinished certificate`);
      const valid = blocks.filter(parses);
      if (valid.length === 0) throw new TlsConfigError(field, `${file} holds no CA certificate`);
      if (valid.length === blocks.length) return text;
      // As written when all parse: the same text a listener's compile reads, so it is no change.
      warn?.(`${file}: ${blocks.length - valid.length} of its ${blocks.length} CA certificates do not parse and are left out`);
      return `${valid.join('\n')}\n`;
    },
  };
}

/** The PEM labels node:tls takes in a CA bundle (OpenSSL's PEM_read_bio_X509_AUX), each block whole. */
const PEM_CERTIFICATE = /-----BEGIN ((?:X509 |TRUSTED )?CERTIFICATE)-----[^-]+-----END \1-----/g;
const PEM_END = /-----END [^-\n]*-----/g;

function parses(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
