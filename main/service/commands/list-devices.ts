import type { DeviceInfo } from '../../api/contract.js';
import { listDevices as probeDevices } from '../../engine/runtime/devices.js';
import type { Engine } from '../engine.js';

/** Command `listDevices`: Auto first, then each provider with whether it can be used here and why not (one that failed to start here is not). */
export async function listDevices(engine: Engine): Promise<DeviceInfo[]> {
  const list = probeDevices();
  const now = engine.device.device;
  return [
    { id: 'auto', name: 'Auto', available: true, reason: `best available: ${list.find((d) => d.available && d.id !== 'cpu' && d.id !== 'webgpu')?.name ?? 'CPU'}; now ${now}` },
    ...list.map((d) => {
      // A provider that is listed but failed to start here is not available, whatever the listing says.
      const failed = engine.deviceFailure(d.id);
      const out: DeviceInfo = { id: d.id, name: d.name, available: d.available && !failed };
      // In words: the provider's own report (often a C++ assertion) stays with the fallback note.
      if (failed) out.reason = 'could not start on this machine (the engine fell back to the CPU); restart the app or rws serve to try it again';
      else if (d.reason) out.reason = d.reason;
      return out;
    }),
  ];
}
