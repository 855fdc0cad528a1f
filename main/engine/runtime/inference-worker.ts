// The Patcher in a worker thread: onnxruntime's create and run block the thread that calls them,
// so the main thread (UI host, server, camera loop) hands them to this worker and stays responsive.
// RemotePatcher (remote-patcher.ts) is the other end and defines the messages.
import { parentPort, workerData } from 'node:worker_threads';
import { RwsError } from '../../core/errors.js';
import { Patcher } from './patcher.js';
import { toWire, WORKER_MARK, type CreatedInfo, type RunReply, type WorkerReply, type WorkerRequest } from './remote-patcher.js';

/** The output's buffer to hand back without a copy: the whole buffer when the array owns it all. */
function transferable(values: Float32Array): Float32Array {
  return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer ? values : values.slice();
}

function serve(port: NonNullable<typeof parentPort>, gate?: Int32Array): void {
  let patcher: Patcher | undefined;
  let creating: Promise<Patcher> | undefined;

  const handle = async (req: WorkerRequest): Promise<{ value?: unknown; transfer?: ArrayBuffer[] }> => {
    if (req.op === 'create') {
      if (creating) throw new RwsError('worker-state', 'the inference worker already holds a model');
      creating = Patcher.open(req.modelPath, req.signatureFiles, req.opts);
      patcher = await creating;
      const info: CreatedInfo = {
        device: patcher.device,
        strategy: patcher.strategy,
        warnings: patcher.warnings,
        inputName: patcher.inputName,
        outputName: patcher.outputName,
        signatureIds: patcher.signatureIds,
      };
      if (patcher.fallback) info.fallback = patcher.fallback;
      if (patcher.maxBatch !== undefined) info.maxBatch = patcher.maxBatch;
      return { value: info };
    }
    const p = patcher ?? (await creating);
    if (!p) throw new RwsError('worker-state', 'the inference worker has no model yet');
    switch (req.op) {
      case 'setMix':
        await p.setMix(req.mix);
        return { value: p.mix };
      case 'run': {
        if (gate) while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0);
        const scores = transferable(await p.run(req.input, req.dims));
        // The input's buffer goes back to be reused: nothing here keeps it after the run.
        const input = req.input.buffer as ArrayBuffer;
        return { value: { scores, input } satisfies RunReply, transfer: [scores.buffer as ArrayBuffer, input] };
      }
      case 'dispose':
        await p.dispose();
        return {};
    }
  };

  port.on('message', (req: WorkerRequest) => {
    handle(req).then(
      ({ value, transfer }) => {
        const reply: WorkerReply = { id: req.id, ok: true, value };
        try {
          port.postMessage(reply, transfer ?? []);
        } catch {
          // A buffer onnxruntime owns cannot be transferred: send a copy instead.
          port.postMessage(reply);
        }
      },
      (e: unknown) => port.postMessage({ id: req.id, ok: false, error: toWire(e) } satisfies WorkerReply),
    );
  });
}

// Only when started by RemotePatcher: importing this file elsewhere must not take over a port.
const data = workerData as Record<string, unknown> | undefined;
if (parentPort && data?.[WORKER_MARK] === true) {
  serve(parentPort, data.runGate instanceof Int32Array ? data.runGate : undefined);
}
