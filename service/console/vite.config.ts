// The console's own build (the repository's vitest.config.ts is for the tests). `npm run build`
// writes it next to the compiled service, where service/http/console.ts serves it from.
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig(({ command }) => {
  // A build is React's production build whatever NODE_ENV the caller has (vitest's "test", when
  // the test setup builds): Vite reads it after loading this file.
  if (command === "build") process.env.NODE_ENV = "production";
  return {
    root: fileURLToPath(new URL(".", import.meta.url)),
    base: "/console/",
    plugins: [react()],
    build: {
      outDir: fileURLToPath(new URL("../../dist/service/console", import.meta.url)),
      emptyOutDir: true,
      // Served under a strict Content-Security-Policy: nothing inlined, every asset a hashed file.
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
      sourcemap: false,
    },
  };
});
