// Copies the browser bundles of the API reference pages out of node_modules into
// hub/web/reference/vendor/, which the hub serves at /api/docs/assets/ and the Python package ships:
// Swagger UI's bundle and stylesheet, and the AsyncAPI React component's standalone bundle (its
// parser included, so that it reads an AsyncAPI 3.0 document by itself) and stylesheet, each with
// its licences (the package's, and those of what its bundle holds). Nothing else is copied: no
// source maps, which would triple the size. The folder is emptied first, so that a file a version
// no longer has does not linger; CI runs this again from the lock file and fails if the result
// differs from what is committed.
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "..", "..", "hub", "web", "reference", "vendor");
// package -> folder in vendor/ -> [file in the package, name in the folder]
const BUNDLES = [
  {
    pkg: "swagger-ui-dist",
    folder: "swagger-ui",
    files: [
      ["swagger-ui-bundle.js", "swagger-ui-bundle.js"],
      ["swagger-ui-bundle.js.LICENSE.txt", "swagger-ui-bundle.js.LICENSE.txt"],
      ["swagger-ui.css", "swagger-ui.css"],
      ["LICENSE", "LICENSE"],
      ["NOTICE", "NOTICE"],
    ],
  },
  {
    pkg: "@asyncapi/react-component",
    folder: "asyncapi-react",
    files: [
      ["browser/standalone/index.js", "index.js"],
      ["browser/standalone/index.js.LICENSE.txt", "index.js.LICENSE.txt"],
      ["styles/default.min.css", "default.min.css"],
      ["LICENSE", "LICENSE"],
    ],
  },
];

await rm(vendor, { recursive: true, force: true });
const lines = [];
for (const { pkg, folder, files } of BUNDLES) {
  const from = join(modules, pkg);
  const { version } = JSON.parse(await readFile(join(from, "package.json"), "utf8"));
  await mkdir(join(vendor, folder), { recursive: true });
  for (const [source, target] of files) {
    await copyFile(join(from, source), join(vendor, folder, target));
  }
  lines.push(`${folder}/: ${pkg} ${version} (${files.map(([source]) => source).join(", ")})`);
}
await writeFile(
  join(vendor, "VERSION"),
  `Copied from the npm packages by clients/reference/build.mjs:\n${lines.join("\n")}\n`,
);
console.log(lines.join("\n"));
