// The IPC handlers of the contract's commands: one loop, each command on its own channel, routed
// to the engine process unchanged. The service validates the arguments (once, whichever
// transport the call came through) before anything uses them; these few commands also remember
// what they set for the next start.
import { CHANNELS, COMMANDS, type CommandArgs, type CommandName, type CommandResults } from '../../api/contract.js';
import type { IpcContext } from './context.js';

type After<K extends CommandName> = (ctx: IpcContext, args: CommandArgs<K>, result: CommandResults[K]) => void;

/** What the app does after a command succeeded (its arguments were valid by then). */
export const AFTER: { [K in CommandName]?: After<K> } = {
  loadPack: (ctx, args) => void ctx.settings.update({ packDir: args?.dir }),
  setDevice: (ctx, args) => void ctx.settings.update({ device: args.device }),
};

/** Register the invoke handler of every command. */
export function registerCommandHandlers(ctx: IpcContext): void {
  for (const command of COMMANDS) {
    ctx.handle(CHANNELS[command], async (raw) => {
      const result = await ctx.engine.call(command, raw);
      (AFTER[command] as After<typeof command> | undefined)?.(ctx, raw as never, result as never);
      return result;
    });
  }
}
