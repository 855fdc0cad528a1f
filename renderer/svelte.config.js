// Svelte 5 with runes everywhere; TypeScript in <script lang="ts"> is handled by the Vite plugin.
export default {
  compilerOptions: { runes: true },
};
