// Holds many sockets on a hub and reports, for each one, when it was told of the shutdown and
// when it was dropped. Prints "ready" once every socket is connected, then one JSON object.
// Usage: HUB_URL=... TOKENS=t1,t2,... [TRANSPORTS=websocket|polling,websocket] node shutdown_clients.mjs
import { io } from "socket.io-client";

const { HUB_URL, TOKENS, TRANSPORTS = "polling,websocket" } = process.env;
const WAIT_MS = 20_000;
const options = {
  transports: TRANSPORTS.split(","),
  reconnection: false,
  forceNew: true, // one Engine.IO connection per socket, as separate apps and browsers have
  timeout: WAIT_MS,
};

const sockets = TOKENS.split(",").map((token) => io(`${HUB_URL}/worker`, { ...options, auth: { token } }));
const seen = sockets.map(() => ({ told: null, dropped: null, reason: null, transport: null }));

await Promise.all(
  sockets.map(
    (socket, i) =>
      new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", (err) => reject(new Error(`socket ${i}: ${err.message}`)));
      }),
  ),
);
// Wait until the upgrades are done: every socket on the transport it will be dropped from.
const upgraded = () => sockets.every((s) => s.io.engine.transport.name === options.transports.at(-1));
for (let waited = 0; !upgraded() && waited < WAIT_MS; waited += 20) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

const done = Promise.all(
  sockets.map(
    (socket, i) =>
      new Promise((resolve) => {
        socket.on("server:shutdown", () => {
          seen[i].told = Date.now();
        });
        socket.on("disconnect", (reason) => {
          Object.assign(seen[i], { dropped: Date.now(), reason });
          resolve();
        });
        seen[i].transport = socket.io.engine.transport.name;
      }),
  ),
);
process.stdout.write("ready\n");
const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify(seen) + "\n");
  process.exit(0);
}, WAIT_MS);
await done;
clearTimeout(timer);
process.stdout.write(JSON.stringify(seen) + "\n");
process.exit(0);
