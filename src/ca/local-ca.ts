// The mesh's CA as a control plane opens it from the config: the trust domain translation names
// identities in, and the lifetimes istiod's environment in the IstioOperator sets. Bad settings stop it
// before any certificate is issued, every problem with its place in the YAML.
import type { AnyResource } from '../config/resource.ts';
import { meshSettingsFrom } from '../model/mesh-config.ts';
import { CaConfigError } from './ca-error.ts';
import { type CaLifetimeOptions, caSettingsFrom } from './ca-settings.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { formatTtl } from './lifetimes.ts';

/** The CA's options from the config, or CaConfigError when a lifetime is wrong (see caSettingsFrom). */
export function caOptionsFrom(resources: readonly AnyResource[]): { trustDomain: string } & CaLifetimeOptions {
  const settings = caSettingsFrom(resources);
  const errors = settings.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new CaConfigError(errors);
  return { trustDomain: meshSettingsFrom(resources).trustDomain, ...settings.ca };
}

/**
 * The CA kept in `dir`: a root is made there the first time, living CITADEL_SELF_SIGNED_CA_CERT_TTL. A root
 * already kept is not remade when that setting changes (as istiod keeps istio-ca-secret); `progress` gets
 * a note saying so, since the edit otherwise shows no effect.
 */
export async function openKeptCa(
  dir: string,
  resources: readonly AnyResource[],
  o: { now?: () => number; progress?: (line: string) => void } = {},
): Promise<CertificateAuthority> {
  const options = caOptionsFrom(resources);
  const ca = await CertificateAuthority.fromStateDir(dir, { ...options, ...(o.now ? { now: o.now } : {}) });
  const wanted = options.rootTtlSeconds;
  // A root made by this CA lives the setting plus the minute it is backdated; anything else was kept.
  const lifetime = ca.rootLifetimeSeconds();
  if (wanted !== undefined && Math.abs(lifetime - 60 - wanted) > 60) {
    o.progress?.(
      `note: the CA root kept in ${dir} was made to live ${formatTtl(lifetime)} (until ${ca.rootExpiry().toISOString()}); ` +
        `CITADEL_SELF_SIGNED_CA_CERT_TTL ${formatTtl(wanted)} applies to the next root made (docs/security-mtls.md)`,
    );
  }
  return ca;
}
