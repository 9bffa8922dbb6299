// Preloaded (node --import) by the cluster's sample-API image only: in a pod the API must listen on the pod's
// address at a known port, but images/sample-api/*/server.mjs listens on port 0 on 127.0.0.1 (right for the local
// target). With REPAVE_PORT set, the first listen(0, "127.0.0.1") becomes listen(REPAVE_PORT, REPAVE_HOST ?? "0.0.0.0").
// A stopgap until server.mjs reads a port and host itself; without REPAVE_PORT it changes nothing.
import { Server } from "node:http";

const port = Number(process.env.REPAVE_PORT ?? "");
if (Number.isInteger(port) && port > 0) {
  const host = process.env.REPAVE_HOST ?? "0.0.0.0";
  const listen = Server.prototype.listen;
  Server.prototype.listen = function (...args) {
    if (args[0] === 0 && args[1] === "127.0.0.1") {
      args[0] = port;
      args[1] = host;
    }
    return listen.apply(this, args);
  };
}
