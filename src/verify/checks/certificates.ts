// Certificates as the mesh really serves them: each sidecar's workload certificate read from its mTLS
// tunnel handshake (valid now, a SPIFFE ID, issued by a trusted root), and the roots the control plane
// pushes as ROOTCA, none expiring within the alert's 30 days.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { type HostPort, reachableAddress } from '../../runtime/reachable-address.ts';
import type { ComponentState } from '../../runtime/state.ts';
import { type Check, type CheckResult, errorText, fail, hostPort, pass, request, type VerifyContext } from '../check.ts';

const DAY_MS = 86_400_000;

/** The leaf certificate a TLS server presents (the tunnel asks for a client certificate; it is read before that matters). */
export function presentedCertificate(target: HostPort, timeoutMs: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: target.host, port: target.port, rejectUnauthorized: false, ALPNProtocols: ['h2'], timeout: timeoutMs });
    const done = (err: Error | undefined, cert?: X509Certificate) => {
      socket.destroy();
      if (cert) resolve(cert);
      else reject(err ?? new Error('no certificate presented'));
    };
    socket.once('secureConnect', () => {
      const raw = socket.getPeerX509Certificate();
      done(raw ? undefined : new Error('no certificate presented'), raw);
    });
    socket.once('timeout', () => done(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', (err) => done(err));
  });
}

/** PEM bundle → certificates. */
export function parseBundle(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

async function roots(ctx: VerifyContext, proxy: ComponentState): Promise<X509Certificate[]> {
  const [ns, pod] = proxy.name.split('/', 2);
  const a = await request(hostPort(ctx.state.controlPlane.debugAddress), `/debug/config_dump?proxyID=${encodeURIComponent(`${pod}.${ns}`)}`, { timeoutMs: ctx.settings.timeoutMs });
  if (a.status !== 200) throw new Error(`config_dump for ${pod}.${ns}: HTTP ${a.status}`);
  const m = /"trusted_ca"\s*:\s*\{\s*"inline_string"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(a.body);
  if (!m?.[1]) throw new Error(`no ROOTCA pushed to ${pod}.${ns}`);
  return parseBundle(JSON.parse(m[1]) as string);
}

export const certificates: Check = async (ctx) => {
  const out: CheckResult[] = [];
  const now = ctx.now();
  const tunnel = (c: ComponentState) => reachableAddress(ctx.state.mode, c, 'proxy:15008');
  const sidecars = ctx.state.components.filter((c) => c.kind === 'workload' && c.sidecar && tunnel(c) !== undefined);
  if (sidecars.length === 0) return [fail('certificates', 'no sidecar with a tunnel port in the state')];
  let bundle: X509Certificate[];
  const rootName = `root CA valid for at least ${ctx.settings.rootMinDays} days`;
  try {
    bundle = await roots(ctx, sidecars[0] as ComponentState);
    const short = bundle.filter((r) => Date.parse(r.validTo) - now < ctx.settings.rootMinDays * DAY_MS);
    out.push(short.length ? fail(rootName, short.map((r) => `${r.subject.replace(/\n/g, ', ')} expires ${r.validTo}`).join('; ')) : pass(rootName, bundle.map((r) => `${r.subject.replace(/\n/g, ', ')} until ${r.validTo}`).join('; ')));
  } catch (err) {
    return [...out, fail(rootName, errorText(err))];
  }
  for (const c of sidecars) {
    const name = `workload certificate of ${c.name}`;
    try {
      const cert = await presentedCertificate(tunnel(c) as HostPort, ctx.settings.timeoutMs);
      const spiffe = /URI:(spiffe:\/\/[^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      const issuer = bundle.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
      const problems = [
        ...(spiffe ? [] : ['no SPIFFE URI SAN']),
        ...(now < from ? [`not valid before ${cert.validFrom}`] : []),
        ...(now >= to ? [`expired ${cert.validTo}`] : []),
        // An intermediate may sit between; a direct root signature is what the local CA issues.
        ...(issuer || bundle.some((r) => cert.issuer === r.subject) ? [] : ['not issued by a pushed root']),
      ];
      const hours = Math.round((to - now) / 3_600_000);
      out.push(problems.length ? fail(name, problems.join('; ')) : pass(name, `${spiffe}, valid until ${cert.validTo} (${hours} h left, renewed before expiry)`));
    } catch (err) {
      out.push(fail(name, errorText(err)));
    }
  }
  return out;
};
