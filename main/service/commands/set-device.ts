import { RwsError } from '../../core/errors.js';
import type { CommandArgs, DeviceChange } from '../../api/contract.js';
import { listDevices } from '../../engine/runtime/devices.js';
import type { Engine } from '../engine.js';

/** Command `setDevice`: re-create the models on another execution provider, keeping the mix. */
export async function setDevice(engine: Engine, args: CommandArgs<'setDevice'>): Promise<DeviceChange> {
  const { device } = args;
  const info = listDevices().find((d) => d.id === device);
  if (device !== 'auto' && info && !info.available) {
    throw new RwsError('device-unavailable', `device "${device}": ${info.reason ?? 'not available here'}`, { field: 'device' });
  }
  const previous = engine.requestedDevice;
  engine.requestedDevice = device;
  const loaded = engine.loaded;
  if (!loaded) {
    engine.device = { requested: device, device };
    engine.events.emit('deviceChange', engine.device);
    engine.publishState();
    return engine.device;
  }
  return engine.exclusive(async () => {
    engine.setStatus('loading', `moving the models to ${device}`);
    let patched;
    try {
      patched = await engine.makePatched(loaded);
      await patched.setMix(engine.mix);
    } catch (e) {
      engine.requestedDevice = previous;
      engine.setStatus('ready', (e as Error).message);
      throw e;
    }
    const old = [loaded.patched, loaded.clean];
    loaded.patched = patched;
    loaded.clean = undefined;
    for (const c of old) await c?.dispose();
    engine.noteDevice(patched);
    engine.setStatus('ready');
    return engine.device;
  });
}
