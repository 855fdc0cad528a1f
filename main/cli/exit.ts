/** Exit codes of every `rws` command: 0 all done, 1 fatal error, 2 usage, 3 some files failed. */
export const EXIT = { ok: 0, fatal: 1, usage: 2, partial: 3 } as const;
