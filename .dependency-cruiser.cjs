// The dependency rules of the tree (README "Layout"), checked in `npm test` by dependency-cruiser:
// renderer -> api, core; app and serve -> api, service (and engine/io's file helpers);
// service -> engine -> core; core imports nothing of ours and nothing of Node; engine never
// imports Electron; no cycles, type-only imports included.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-is-pure',
      comment: 'core runs in Node and in the browser: it imports only itself',
      severity: 'error',
      from: { path: '^main/core/' },
      to: { pathNot: '^main/core/' },
    },
    {
      name: 'api-over-core',
      comment: 'the contract imports only core (and zod for its schemas)',
      severity: 'error',
      from: { path: '^main/api/' },
      to: { pathNot: ['^main/api/', '^main/core/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'engine-below-service',
      comment: 'engine depends on core and Node only: never on the api, the service, the hosts or Electron',
      severity: 'error',
      from: { path: '^main/engine/' },
      to: { path: ['^main/(api|service|app|preload|serve|cli)/', '^renderer/', '(^|/)node_modules/electron/'] },
    },
    {
      name: 'service-below-hosts',
      severity: 'error',
      from: { path: '^main/service/' },
      to: { path: ['^main/(app|preload|serve|cli)/', '^renderer/', '(^|/)node_modules/electron/'] },
    },
    {
      name: 'hosts-through-service',
      comment: 'the app and rws serve reach the engine through the service (engine/io file helpers excepted)',
      severity: 'error',
      from: { path: '^main/(app|serve)/' },
      to: { path: '^main/engine/', pathNot: '^main/engine/io/' },
    },
    {
      name: 'preload-is-narrow',
      comment: 'the preload is the contract over ipcRenderer: the api and Electron, nothing else',
      severity: 'error',
      from: { path: '^main/preload/' },
      to: { pathNot: ['^main/preload/', '^main/api/', '^main/core/errors', '(^|/)node_modules/electron/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'renderer-over-api',
      comment: 'the UI talks to the contract only, so it runs in Electron and in a browser',
      severity: 'error',
      from: { path: '^renderer/src/' },
      to: { path: '^main/', pathNot: ['^main/api/', '^main/core/'] },
    },
    {
      name: 'no-electron-outside-app',
      severity: 'error',
      from: { pathNot: ['^main/(app|preload)/', '^test/', '^electron\\.vite\\.config\\.ts$'] },
      to: { path: '(^|/)node_modules/electron/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.svelte'] },
    exclude: { path: ['^dist/', '^out/', 'node_modules'] },
  },
};
