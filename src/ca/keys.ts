// Key material for the CA and for workloads: generate ECDSA P-256, import PEM (PKCS#8, SEC1 or
// PKCS#1 from a plugged-in `cacerts`), export PKCS#8 PEM, and pick the matching signing algorithm.
import { createPrivateKey } from 'node:crypto';
import { CaError } from './ca-error.ts';

export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function generateP256(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** The signature algorithm a key signs with (SHA-256 in both families). */
export function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  return key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: key.algorithm.name, hash: 'SHA-256' };
}

/** Imports a PEM private key of any common layout as a non-extractable WebCrypto signing key. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  try {
    const key = createPrivateKey(pem);
    const der = key.export({ format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType === 'ec') {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
      if (!namedCurve) throw new Error(`unsupported curve ${String(curve)}`);
      return await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
    }
    if (key.asymmetricKeyType === 'rsa') {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new Error(`RSA key of ${bits} bits is too small`);
      return await crypto.subtle.importKey(
        'pkcs8',
        der,
        { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        false,
        ['sign'],
      );
    }
    throw new Error(`unsupported key type ${String(key.asymmetricKeyType)}`);
  } catch (err) {
    throw new CaError('CA_BAD_KEY', `cannot use the CA private key: ${(err as Error).message}`, { cause: err });
  }
}

/** PKCS#8 PEM of an extractable private key (what node:tls takes as `key`). */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}-----END PRIVATE KEY-----\n`;
}

/** Splits a PEM bundle into its certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}
