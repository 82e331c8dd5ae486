// Every proxy answers Prometheus on its 15090 port, and Istio's request metric is there once traffic
// has flowed (the traffic checks run before this one).
import { reachableAddress } from '../../runtime/reachable-address.ts';
import { type Check, errorText, fail, pass, proxies, request } from '../check.ts';

export const metricsPresent: Check = async (ctx) => {
  const name = 'metrics on every proxy (/stats/prometheus)';
  const problems: string[] = [];
  let withRequests = 0;
  const list = proxies(ctx.state);
  for (const c of list) {
    const target = reachableAddress(ctx.state.mode, c, 'proxy:15090');
    if (target === undefined) {
      problems.push(`${c.name}: no Prometheus port in the state`);
      continue;
    }
    try {
      const a = await request(target, '/stats/prometheus', { timeoutMs: ctx.settings.timeoutMs });
      if (a.status !== 200) problems.push(`${c.name}: HTTP ${a.status}`);
      else if (!/^# TYPE /m.test(a.body)) problems.push(`${c.name}: no metrics in the answer`);
      if (/^istio_requests_total\{/m.test(a.body)) withRequests++;
    } catch (err) {
      problems.push(`${c.name}: ${errorText(err)}`);
    }
  }
  if (list.length === 0) problems.push('no proxies in the state');
  else if (withRequests === 0) problems.push('no proxy reports istio_requests_total');
  return [problems.length ? fail(name, problems.join('; ')) : pass(name, `${list.length} proxies answer; ${withRequests} report istio_requests_total`)];
};
