// Copies the official socket.io-client's own browser ES module build into vendor/, where the
// pages import it from: `import { io } from "../vendor/socket.io.esm.min.js"`. The copy is
// committed, so the hub serves the pages without Node.js and nothing is fetched at run time;
// CI runs this again from the lock file and fails if vendor/ changed.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "node_modules", "socket.io-client");
const vendor = join(here, "vendor");
const FILES = ["socket.io.esm.min.js", "socket.io.esm.min.js.map"];

const { version } = JSON.parse(await readFile(join(pkg, "package.json"), "utf8"));
await mkdir(vendor, { recursive: true });
for (const name of FILES) {
  await copyFile(join(pkg, "dist", name), join(vendor, name));
}
await writeFile(
  join(vendor, "VERSION"),
  `socket.io-client ${version}: dist/${FILES[0]} of the npm package, copied by build.mjs\n`,
);
console.log(`vendor/: socket.io-client ${version} (${FILES.join(", ")})`);
