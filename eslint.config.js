// Lint with type information: the rules that matter most here (floating or misused promises,
// non-exhaustive switches over unions) need the TypeScript program, so every linted file belongs to a
// tsconfig (tsconfig.json for TypeScript, tsconfig.scripts.json for the .mjs build scripts,
// service/console/tsconfig.json for the browser console).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "coverage/**",
      ".keyplane/**",
      "bench/tmp/**",
      "examples/**",
      // Written by `npm run gen:types` / `npm run gen:cdktf`; fixed by changing their generators.
      "service/generated/**",
      "cdktf-provider/cdktf/generated/**",
      // Written by cdktf-provider/scripts/gen-protocol.mjs (protobufjs static code).
      "cdktf-provider/src/protocol/proto/protocol-codec.cjs",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        project: ["./tsconfig.json", "./tsconfig.scripts.json", "./service/console/tsconfig.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      // A leading underscore marks a parameter kept for its position (Express error handlers need four)
      // or a property destructured only to leave it out of the rest object.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
      // Input validation here deliberately matches control characters to reject them.
      "no-control-regex": "off",
      // `async` without `await` is used on purpose: it implements an async interface (gRPC handlers,
      // resolver stubs) and turns a synchronous throw into a rejection.
      "@typescript-eslint/require-await": "off",
      // Passing on a caught value (typed unknown, or any from untyped callbacks) as the rejection reason is fine.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // The console runs in the browser.
    files: ["service/console/src/**"],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ["test/**"],
    rules: {
      // Tests read untyped JSON response bodies and poke at decoded wire values on purpose; the
      // assertions are the type check.
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  {
    files: ["cdktf-provider/src/resources/**", "test/provider/**"],
    rules: {
      // Attribute values are typed CtyValue (any Terraform value); the schema makes the ones written
      // into messages and URLs strings, and String() is the intended conversion.
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
    },
  },
  {
    files: ["**/*.mjs"],
    rules: {
      // The build scripts are plain JavaScript (checked by tsc with checkJs, without noImplicitAny):
      // most values are untyped by nature.
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
);
