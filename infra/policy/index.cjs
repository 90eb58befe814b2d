// Pulumi's policy runner require()s the pack's main file as CommonJS (after registering a type-checking
// ts-node of its own for .ts files). The rules are the project's TypeScript ES modules, so this loads
// them through tsx, which compiles them for require(), as Pulumi.yaml's `--import tsx` does for the program.
require("tsx/cjs/api").require("./pack.ts", __filename);
