/** The page `rws serve` shows when the renderer has not been built: what to run, and that the API works. */
export function fallbackPage(rendererDir: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RWS Studio</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}code{background:#eef1f4;padding:.1em .3em;border-radius:3px}</style>
</head><body>
<h1>RWS Studio</h1>
<p>The server is running, but the user interface has not been built: <code>${esc(rendererDir)}</code> has no <code>index.html</code>.</p>
<p>Build it with <code>npm run build</code> (or <code>npx vite build -c renderer/vite.config.ts</code>) and reload this page.</p>
<p>The API answers at <code>POST /api/&lt;command&gt;</code>, events at <code>/ws</code>.</p>
</body></html>
`;
}
