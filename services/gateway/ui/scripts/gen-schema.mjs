// Generates src/api/schema.d.ts from openapi.json (the gateway's OpenAPI document, written by
// `lathe openapi`). openapi-typescript keys operations by operationId, so two operations sharing
// one would merge into a wrong type: such duplicates get a path-derived id here, with a warning.
import { readFileSync, writeFileSync } from "node:fs";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const doc = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));
const seen = new Set();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (typeof op !== "object" || op === null || !op.operationId) continue;
    if (seen.has(op.operationId)) {
      const id = `${method}${path.replace(/\{([^}]+)\}/g, "by_$1").replace(/[^A-Za-z0-9]+/g, "_")}`;
      console.warn(`warning: operationId ${op.operationId} is used twice; ${method.toUpperCase()} ${path} becomes ${id}`);
      op.operationId = id;
    }
    seen.add(op.operationId);
  }
}
const ast = await openapiTS(doc);
writeFileSync(new URL("../src/api/schema.d.ts", import.meta.url), COMMENT_HEADER + astToString(ast));
