// The gRPC origin: a unary echo service on @grpc/grpc-js with raw-bytes (de)serialisation, so no
// .proto is needed and h2load can drive it with a pre-framed request body. Run as its own process.
import * as grpc from '@grpc/grpc-js';

export const echoPath = '/bench.Echo/Echo';

const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  Echo: { path: echoPath, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

/** A gRPC length-prefixed message frame (not compressed) around `payload`. */
export function grpcFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

if (import.meta.main) {
  const server = new grpc.Server();
  server.addService(service, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = Number(process.argv[2] ?? 0);
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) throw err;
    process.stdout.write(`listening ${bound}\n`);
  });
  process.once('SIGTERM', () => server.forceShutdown());
}
