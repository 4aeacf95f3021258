// Record the SHA-256 of the sources and of the built bundle, so a test can tell that the
// committed bundle was built from the committed sources.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const sources = ["src/index.js", "package.json", "package-lock.json"];
const digest = (paths) => {
  const hash = createHash("sha256");
  for (const path of paths) hash.update(path + "\0" + readFileSync(path) + "\0");
  return hash.digest("hex");
};
const bundle = createHash("sha256").update(readFileSync("../static/lwchart.js")).digest("hex");
const record = { sources: digest(sources), source_files: sources, bundle };
writeFileSync("../static/build.json", JSON.stringify(record, null, 2) + "\n");
console.log(record);
