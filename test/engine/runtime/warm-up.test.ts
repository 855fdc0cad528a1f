import { describe, expect, it } from 'vitest';
import { warmOnnxruntime } from '../../../main/engine/runtime/warm-up.js';

describe('warmOnnxruntime', () => {
  it("creates and releases a session of its embedded model (onnxruntime accepts the model's bytes)", async () => {
    await expect(warmOnnxruntime()).resolves.toBeUndefined();
    // A second time is the same: nothing is held between calls.
    await expect(warmOnnxruntime()).resolves.toBeUndefined();
  });
});
