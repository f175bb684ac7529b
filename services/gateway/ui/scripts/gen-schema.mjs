// Generates src/api/schema.d.ts from openapi.json (the gateway's OpenAPI document, written by
// `lathe openapi`). openapi-typescript keys operations by operationId, so two operations sharing
// one would merge into a wrong type: that stops the build (the server keeps them unique, and
// tests/tests/openapi.rs checks it).
import { readFileSync, writeFileSync } from "node:fs";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const doc = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));
const seen = new Map();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (typeof op !== "object" || op === null || !op.operationId) continue;
    const here = `${method.toUpperCase()} ${path}`;
    if (seen.has(op.operationId)) {
      console.error(`error: operationId ${op.operationId} names both ${seen.get(op.operationId)} and ${here}`);
      process.exit(1);
    }
    seen.set(op.operationId, here);
  }
}
const ast = await openapiTS(doc);
writeFileSync(new URL("../src/api/schema.d.ts", import.meta.url), COMMENT_HEADER + astToString(ast));
