import { defineConfig } from "vite";

// The gateway serves dist/index.html at `/` and `/ui/…`, and dist/assets/ at `/assets/…` with
// an immutable cache, so every asset name carries its content hash. Its CSP allows scripts and
// styles from the same origin only, so nothing may be inlined.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: true,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:18181" },
  },
});
