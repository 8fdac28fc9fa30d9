// Vite's ambient types: lets the type checker accept the stylesheet imports Vite bundles.
/// <reference types="vite/client" />
