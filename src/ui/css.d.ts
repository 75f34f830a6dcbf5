// esbuild bundles the stylesheet the entry point imports.
declare module '*.css';
