// The proxy's own key and CSR: ECDSA P-256, generated locally; the private key never leaves the proxy.
// The PKCS#10 request is written here in a few lines of DER rather than with an X.509 library: the
// proxy needs nothing else from one, and loading one costs every sidecar several MB resident.
import { generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';

export interface WorkloadKeyAndCsr {
  /** PKCS#8 PEM, for node:tls `key`. */
  keyPem: string;
  csrPem: string;
}

const generateP256 = promisify(generateKeyPair);

/** One DER TLV: tag, definite length, content. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  if (n > 0xffff) throw new RangeError(`DER value of ${n} bytes is longer than a CSR needs`);
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const septets = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) septets.unshift((v & 0x7f) | 0x80);
    bytes.push(...septets);
  }
  return der(0x06, Buffer.from(bytes));
}

const SEQUENCE = 0x30;
const SET = 0x31;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String. */
const URI_NAME = 0x86;
/** CertificationRequestInfo attributes: [0] IMPLICIT SET OF Attribute. */
const ATTRIBUTES = 0xa0;
const VERSION_1 = Buffer.from([0x02, 0x01, 0x00]);

/**
 * A PKCS#10 request (RFC 2986) with an empty subject, the key, and one extensionRequest attribute holding
 * a subjectAltName of the single URI `uri`; signed ECDSA with SHA-256.
 */
export function certificationRequest(uri: string, publicKey: KeyObject, privateKey: KeyObject): Buffer {
  const san = der(SEQUENCE, oid('2.5.29.17'), der(OCTET_STRING, der(SEQUENCE, der(URI_NAME, Buffer.from(uri, 'ascii')))));
  const extensionRequest = der(SEQUENCE, oid('1.2.840.113549.1.9.14'), der(SET, der(SEQUENCE, san)));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = der(SEQUENCE, VERSION_1, der(SEQUENCE), spki, der(ATTRIBUTES, extensionRequest));
  const signature = sign('sha256', info, privateKey);
  return der(SEQUENCE, info, der(SEQUENCE, oid('1.2.840.10045.4.3.2')), der(BIT_STRING, Buffer.from([0]), signature));
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A fresh key and a CSR asking for `spiffeId` as its single URI SAN (the CA decides the final SAN). */
export async function createWorkloadCsr(spiffeId: string): Promise<WorkloadKeyAndCsr> {
  // A SPIFFE ID is ASCII by definition; anything else would not survive as an IA5String.
  if (!/^[\x21-\x7e]+$/.test(spiffeId)) throw new TypeError(`not a URI for a CSR: ${JSON.stringify(spiffeId)}`);
  const { publicKey, privateKey } = await generateP256('ec', { namedCurve: 'prime256v1' });
  const csr = certificationRequest(spiffeId, publicKey, privateKey);
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrPem: pem('CERTIFICATE REQUEST', csr) };
}
