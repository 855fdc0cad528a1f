import type { DeviceInfo } from '../../api/contract.js';
import { listDevices as probeDevices } from '../../engine/runtime/devices.js';
import type { Engine } from '../engine.js';

/** Command `listDevices`: Auto first, then each provider with whether it can be used here and why not. */
export async function listDevices(engine: Engine): Promise<DeviceInfo[]> {
  const list = probeDevices();
  const now = engine.device.device;
  return [
    { id: 'auto', name: 'Auto', available: true, reason: `best available: ${list.find((d) => d.available && d.id !== 'cpu' && d.id !== 'webgpu')?.name ?? 'CPU'}; now ${now}` },
    ...list.map((d) => {
      const out: DeviceInfo = { id: d.id, name: d.name, available: d.available };
      if (d.reason) out.reason = d.reason;
      return out;
    }),
  ];
}
