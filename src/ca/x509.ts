// The one place @peculiar/x509 is set up: reflect-metadata first, then node's WebCrypto as provider.
// Import `x509` from here, never from the package directly, so the provider is always set.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** The OID of the subjectAltName extension (RFC 5280 §4.2.1.6). */
export const SAN_OID = '2.5.29.17';
/** The OID of the basicConstraints extension. */
export const BASIC_CONSTRAINTS_OID = '2.5.29.19';
