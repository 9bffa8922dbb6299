// Lint: typescript-eslint's type-aware recommended rules over everything we write.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "dist/", ".engine/", ".pulumi-state/", ".pulumi-home/", ".repave/", "images/**/*.mjs", "cluster/**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/require-await": "off",
        },
    },
    // node:test's describe/it return promises the runner itself awaits.
    { files: ["test/**/*.ts"], rules: { "@typescript-eslint/no-floating-promises": "off" } },
    { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
    // The policy pack's entry is plain CommonJS: the policy host require()s it (its rules are TypeScript).
    {
        files: ["policy/**/*.cjs"],
        ...tseslint.configs.disableTypeChecked,
        languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: "commonjs", globals: { require: "readonly", module: "writable" } },
        rules: { ...tseslint.configs.disableTypeChecked.rules, "@typescript-eslint/no-require-imports": "off" },
    },
);
