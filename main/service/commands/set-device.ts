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
  return engine.setDevice(device);
}
