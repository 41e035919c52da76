#!/usr/bin/env node
// solc command-line adapter over the official solc-js build (npm package `solc`).
//
// py-solc-x and brownie expect a native `solc` binary. This machine cannot download one, but npm
// ships solc-js. This file answers the two calls they make:
//   --version          -> "Version: <x.y.z>+commit.<hash>.<platform>" as native solc prints it
//   --standard-json    -> reads Standard JSON input on stdin, writes Standard JSON output
// Imports that are not in the input are read from disk, relative to --base-path (if given),
// the current directory, and each --allow-paths entry, which is what native solc does.
// Output is written with process.stdout.write and the process ends naturally, so large
// outputs on a pipe are never truncated by an early exit.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);

function optionValues(name) {
  const values = [];
  args.forEach((arg, i) => {
    if (arg === name && i + 1 < args.length) values.push(args[i + 1]);
    else if (arg.startsWith(name + "=")) values.push(arg.slice(name.length + 1));
  });
  return values;
}

if (args.includes("--version")) {
  // solc-js reports "0.8.28+commit.7893614a.Emscripten.clang"; native solc prints this banner.
  process.stdout.write(
    "solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n"
  );
} else if (args.includes("--standard-json")) {
  const roots = [
    ...optionValues("--base-path"),
    process.cwd(),
    ...optionValues("--allow-paths").flatMap((v) => v.split(",")),
    ...optionValues("--include-path"),
  ].filter(Boolean);

  const findImports = (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, "utf8") };
      } catch (err) {
        // try the next root
      }
    }
    return { error: "File not found: " + importPath + " (searched " + roots.join(", ") + ")" };
  };

  const chunks = [];
  process.stdin.on("data", (chunk) => chunks.push(chunk));
  process.stdin.on("end", () => {
    const input = Buffer.concat(chunks).toString("utf8");
    const output = solc.compile(input, { import: findImports });
    process.stdout.write(output + "\n");
  });
} else {
  process.stderr.write(
    "solc-adapter: only --version and --standard-json are supported (solc-js " + solc.version() + ")\n"
  );
  process.exitCode = 1;
}
