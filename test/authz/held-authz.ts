// Authorization providers that take each check and hold it unanswered, for tests of what the proxy does
// meanwhile (its timeout, a client that leaves): a real grpc-js Authorization service and a plain HTTP
// server, each recording what it holds. Closing them lets go of what they hold.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoIncludeDirs } from '../../src/xds/protos.ts';

export interface HeldAuthz {
  grpcPort: number;
  httpPort: number;
  /** Each gRPC Check, with the callback that would answer it. */
  grpcCalls: { call: grpc.ServerUnaryCall<unknown, unknown>; answer: grpc.sendUnaryData<unknown> }[];
  /** Each HTTP check; `gone` once the proxy closed it unanswered. */
  httpChecks: { res: http.ServerResponse; gone: boolean }[];
  close(): void;
}

export async function startHeldAuthz(): Promise<HeldAuthz> {
  const grpcCalls: HeldAuthz['grpcCalls'] = [];
  const httpChecks: HeldAuthz['httpChecks'] = [];
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  const grpcServer = new grpc.Server();
  grpcServer.addService(pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<unknown, unknown>, answer: grpc.sendUnaryData<unknown>) => void grpcCalls.push({ call, answer }),
  });
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const httpAuthz = http.createServer((_req, res) => {
    const held = { res, gone: false };
    res.on('close', () => {
      if (!res.writableEnded) held.gone = true;
    });
    httpChecks.push(held);
  });
  await new Promise<void>((r) => httpAuthz.listen(0, '127.0.0.1', r));
  return {
    grpcPort,
    httpPort: (httpAuthz.address() as AddressInfo).port,
    grpcCalls,
    httpChecks,
    close() {
      for (const c of httpChecks) c.res.destroy();
      httpAuthz.close();
      grpcServer.forceShutdown();
    },
  };
}
