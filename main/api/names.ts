// The names of the contract that its schemas and its types both need: commands and devices.
// Plain constants, no imports, so contract.ts (types) and schemas.ts (zod) both build on it.

/** Execution providers by id; `auto` = first available of cuda, dml, coreml, cpu. */
export const DEVICE_IDS = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type DeviceId = (typeof DEVICE_IDS)[number];

/** Every command name, in a stable order (schemas.ts has one schema per name). */
export const COMMANDS = [
  'getState',
  'loadPack',
  'getPack',
  'listDevices',
  'setDevice',
  'setMix',
  'classifyFrame',
  'startFolderRun',
  'stopFolderRun',
  'resumeFolderRun',
  'getFolderResults',
  'exportResults',
  'listRoots',
  'browse',
  'evaluate',
  'previewCondition',
  'getThumbnail',
  'uploadFiles',
  'classifyFile',
  'cancelEvaluation',
  'readResults',
] as const;
export type CommandName = (typeof COMMANDS)[number];
