// Which layers `rws train --layers auto` trains: the stem and the first stage, where the paper and
// the project's recipe put a signature (the shallowest layers carry most of what a corruption
// changes). Read from the graph, not guessed from a layer count: a stage ends where the feature map
// is downsampled again after layers that kept its size.
import { intsAttr } from '../onnx/graph.js';
import type { Layer, OnnxModel } from '../onnx/model.js';

const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);

/** The leading layers `--layers auto` trains, and why they end where they do. */
export interface ShallowChoice {
  layers: Layer[];
  /** The layer that starts the second stage (the first one left out), when there is one. */
  boundary?: Layer;
  reason: string;
}

/**
 * The stem and first stage: layers in graph order up to the first downsampling (a strided conv or
 * pool) that follows a layer which kept the feature map's size. A model without such a boundary
 * (a transformer after its patch embedding) gets its first quarter of layers.
 */
export function shallowLayers(model: OnnxModel): ShallowChoice {
  const layers = model.layers();
  const byNode = new Map(layers.map((l) => [l.nodeIndex, l]));
  let stageSeen = false;
  const nodes = model.nodes();
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    const layer = byNode.get(i);
    const strided = (layer?.stride ?? (POOLS.has(n.op_type) ? intsAttr(n, 'strides') : [])).some((s) => s > 1);
    if (strided && stageSeen) {
      if (layer) return { layers: layers.slice(0, layer.index), boundary: layer, reason: `the stem and first stage, up to the next downsampling at ${layer.node}` };
      const next = layers.find((l) => l.nodeIndex > i);
      if (next) return { layers: layers.slice(0, next.index), boundary: next, reason: `the stem and first stage, up to the next downsampling at ${n.name || n.op_type}` };
    }
    if (layer && !strided) stageSeen = true;
  }
  const quarter = Math.max(1, Math.ceil(layers.length / 4));
  return { layers: layers.slice(0, quarter), reason: 'the first quarter of the layers (no second downsampling to end a first stage)' };
}
