// The graph as a dependency structure: nodes in topological order, who reads and who writes each
// tensor, and node attributes. Shared by model reading, layer listing, splitting and shape inference.
import { MinHeap } from '../../core/min-heap.js';
import { toNumber, type GraphProto, type NodeProto } from './onnx-proto.js';

/** Nodes in topological order and the readers and producer of each tensor. */
export interface GraphIndex {
  /** Nodes in topological order (stable: the file's order wherever it is already valid). */
  order: NodeProto[];
  /** Topological index of each node. */
  position: Map<NodeProto, number>;
  /** Nodes reading each tensor, with the input slot. */
  consumers: Map<string, { node: NodeProto; inputIndex: number }[]>;
  /** The node producing each tensor. */
  producer: Map<string, NodeProto>;
}

/** Index a graph: topological order (stable), readers and producers of each tensor. */
export function buildIndex(graph: GraphProto): GraphIndex {
  const nodes = graph.node;
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o) producer.set(o, n);
  // Subgraphs (If/Loop bodies) read outer tensors by name without listing them as inputs.
  const reads = nodes.map((n) => {
    const names = n.input.filter(Boolean);
    for (const a of n.attribute) {
      for (const g of [a.g, ...(a.graphs ?? [])]) if (g) collectSubgraphReads(g, names);
    }
    return names;
  });
  const fileIndex = new Map(nodes.map((n, i) => [n, i]));
  const deps = nodes.map((_, i) => {
    const d = new Set<number>();
    for (const name of reads[i]) {
      const p = producer.get(name);
      if (p && p !== nodes[i]) d.add(fileIndex.get(p)!);
    }
    return d;
  });
  const dependents: number[][] = nodes.map(() => []);
  const pending = deps.map((d) => d.size);
  deps.forEach((d, i) => d.forEach((j) => dependents[j].push(i)));
  // Kahn's algorithm, always taking the earliest ready node, so a sorted file keeps its order.
  const ready = new MinHeap<number>((x, y) => x < y);
  pending.forEach((p, i) => p === 0 && ready.push(i));
  const order: NodeProto[] = [];
  const done = new Uint8Array(nodes.length);
  while (ready.size) {
    const i = ready.pop()!;
    done[i] = 1;
    order.push(nodes[i]);
    for (const j of dependents[i]) if (--pending[j] === 0) ready.push(j);
  }
  // A cycle or dangling input: keep the rest in file order rather than losing nodes.
  nodes.forEach((n, i) => !done[i] && order.push(n));
  const position = new Map(order.map((n, i) => [n, i]));
  const consumers = new Map<string, { node: NodeProto; inputIndex: number }[]>();
  for (const n of order) {
    n.input.forEach((name, inputIndex) => {
      if (!name) return;
      let list = consumers.get(name);
      if (!list) consumers.set(name, (list = []));
      list.push({ node: n, inputIndex });
    });
  }
  return { order, position, consumers, producer };
}

function collectSubgraphReads(g: GraphProto, into: string[]): void {
  for (const n of g.node) {
    into.push(...n.input.filter(Boolean));
    for (const a of n.attribute) {
      for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) collectSubgraphReads(sub, into);
    }
  }
}


/** A node's name, or `OP@INDEX` (topological index) for unnamed nodes. */
export function nodeName(node: NodeProto, index: number): string {
  return node.name || `${node.op_type}@${index}`;
}

/** An INT attribute of a node, or `fallback` when absent. */
export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a ? toNumber(a.i) : fallback;
}

/** An INTS attribute of a node, or `[]` when absent. */
export function intsAttr(node: NodeProto, name: string): number[] {
  const a = node.attribute.find((x) => x.name === name);
  return a ? a.ints.map(toNumber) : [];
}
