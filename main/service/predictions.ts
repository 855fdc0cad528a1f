import type { TopK } from '../api/contract.js';

/** Top-k of one row of model output, as softmax probabilities (`logits`) or as given (`probabilities`). */
export function topK(row: Float32Array, labels: string[], k: number, kind: 'logits' | 'probabilities'): TopK {
  let scores: Float64Array;
  if (kind === 'logits') {
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    scores = new Float64Array(row.length);
    let sum = 0;
    for (let i = 0; i < row.length; i++) sum += scores[i] = Math.exp(row[i]! - max);
    for (let i = 0; i < row.length; i++) scores[i]! /= sum;
  } else {
    scores = Float64Array.from(row);
  }
  const order = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, Math.min(k, row.length)).map((index) => ({ index, label: labels[index] ?? String(index), score: scores[index]! }));
}
