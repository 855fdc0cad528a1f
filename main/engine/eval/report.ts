import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { EvalReport, SeverityRow } from './evaluate.js';

const pct = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : `${(v * 100).toFixed(1)}`);
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The report's tables as plain text (what `rws eval` prints). */
export function reportText(r: EvalReport): string {
  const lines: string[] = [];
  lines.push(`${r.packName}: ${r.data.images} images of ${r.data.source} (seed ${r.data.seed})`);
  lines.push(`clean accuracy ${pct(r.clean)}%; after patch and unpatch ${pct(r.unpatch.cleanAfterUnpatch)}%, logits bit-identical: ${r.unpatch.bitIdentical ? 'yes' : 'NO'} (${r.unpatch.comparedLogits} values)`);
  lines.push('');
  lines.push('condition      sev  clean  patched  robust  gap recovered');
  for (const c of r.conditions) {
    for (const s of c.severities) {
      lines.push(`${(c.transfer ? `${c.id} (transfer)` : c.id).padEnd(14)} ${String(s.severity).padStart(3)}  ${pct(s.clean).padStart(5)}  ${pct(s.patched).padStart(7)}  ${pct(s.robust).padStart(6)}  ${pct(s.gapRecovered).padStart(13)}`);
    }
    lines.push(`${''.padEnd(14)} clean images while patched: ${pct(c.cleanWhilePatched)}`);
  }
  if (r.conditions.some((c) => c.families?.length)) {
    lines.push('');
    lines.push('per generator family: in family (the signature trained on every family) and left out (trained without this family\'s lineage)');
    lines.push('the robust model is all layers fine-tuned on this family; gap recovered = (patched − clean) / (robust − clean)');
    lines.push('condition / family          sev  clean  robust  patched  gap   left out  gap   auto  best mix (hindsight)');
    for (const c of r.conditions) {
      for (const f of c.families ?? []) {
        for (const s of f.severities) {
          lines.push(
            `${`${c.id} / ${f.family}`.padEnd(26)} ${String(s.severity).padStart(3)}  ${pct(s.clean).padStart(5)}  ${pct(s.robust).padStart(6)}  ${pct(s.patched).padStart(7)}  ${pct(s.gapRecovered).padStart(5)}  ${pct(s.lofo).padStart(8)}  ${pct(s.gapLofo).padStart(5)}  ${pct(s.auto).padStart(5)}  ${s.best ? `${s.best.id} ${pct(s.best.accuracy)}` : '–'}`,
          );
        }
      }
    }
    if (r.conditions.some((c) => c.families?.some((f) => f.severities.some((s) => s.peers)))) {
      lines.push('');
      lines.push('test-time peers (the recipe, torch, unfolded model, its own test images; batches of 200): accuracy / clean accuracy left behind');
      lines.push('condition / family          sev  clean  patched  BN adaptation  TENT         RWS + BN');
      for (const c of r.conditions) {
        for (const f of c.families ?? []) {
          for (const s of f.severities) {
            const p = s.peers;
            if (!p) continue;
            lines.push(`${`${c.id} / ${f.family}`.padEnd(26)} ${String(s.severity).padStart(3)}  ${pct(p.clean).padStart(5)}  ${pct(p.patched).padStart(7)}  ${`${pct(p.bn)} / ${pct(p.bnClean)}`.padEnd(13)}  ${`${pct(p.tent)} / ${pct(p.tentClean)}`.padEnd(11)}  ${pct(p.rwsBn)} / ${pct(p.rwsBnClean)}`);
          }
        }
      }
    }
  }
  lines.push('');
  lines.push('α sweep (corrupted / clean accuracy)');
  for (const c of r.conditions) lines.push(`  ${c.id.padEnd(12)} ${c.alpha.map((a) => `α=${a.alpha}: ${pct(a.corrupted)}/${pct(a.clean)}`).join('  ')}`);
  lines.push('');
  lines.push('layers kept (k) → corrupted accuracy');
  for (const c of r.conditions) if (c.layers.length) lines.push(`  ${c.id.padEnd(12)} ${c.layers.map((l) => `k=${l.layers} (${l.values} values): ${pct(l.corrupted)}`).join('  ')}`);
  lines.push('');
  lines.push(`quantization (model ${r.model.bytes} bytes)`);
  for (const c of r.conditions) if (c.quant.length) lines.push(`  ${c.id.padEnd(12)} ${c.quant.map((q) => `${q.quant}: ${pct(q.corrupted)} in ${q.bytes} B (${q.smallerThanModel.toFixed(0)}× smaller)`).join('  ')}`);
  if (r.composition.length) {
    lines.push('');
    lines.push('mixes on data corrupted by each of their conditions');
    for (const m of r.composition) {
      const singles = Object.entries(m.singles).map(([k, v]) => `${k} alone ${pct(v)}`).join(', ');
      const ded = Object.entries(m.dedicated).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
      lines.push(`  ${m.name} ${JSON.stringify(m.mix)} on ${m.corruptions.join(' then ')} s${m.severity}: clean ${pct(m.clean)}, mix ${pct(m.mixed)}; ${singles}${ded ? `; dedicated ${ded}` : ''}${m.pairModel !== undefined ? `; pair model ${pct(m.pairModel)} → ${pct(m.shareOfPair)}% of its gain` : ''}`);
    }
  }
  lines.push('');
  lines.push(`${r.seconds.toFixed(0)} s`);
  return lines.join('\n');
}

function chartJs(): Promise<string> {
  const require = createRequire(import.meta.url);
  // The package's exports hide dist/; its main entry sits beside the UMD build.
  return readFile(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

/** A self-contained HTML page (chart.js inlined, works offline) with the report's tables and charts. */
export async function reportHtml(r: EvalReport): Promise<string> {
  const lib = await chartJs();
  const charts = r.conditions.map((c, i) => ({ id: `sev${i}`, title: `${c.name}${c.transfer ? ' (transfer)' : ''}: accuracy vs severity`, cond: c }));
  const data = JSON.stringify({
    severity: r.conditions.map((c) => ({
      labels: c.severities.map((s) => `${s.severity}`),
      clean: c.severities.map((s) => s.clean * 100),
      patched: c.severities.map((s) => s.patched * 100),
      robust: c.severities.some((s) => s.robust !== undefined) ? c.severities.map((s) => (s.robust ?? NaN) * 100) : null,
    })),
    alpha: r.conditions.map((c) => ({ id: c.id, points: c.alpha.map((a) => ({ x: a.alpha, y: a.corrupted * 100 })), clean: c.alpha.map((a) => ({ x: a.alpha, y: a.clean * 100 })) })),
  }).replace(/</g, '\\u003c');
  const rows = r.conditions
    .flatMap((c) => c.severities.map((s) => `<tr><td>${esc(c.name)}${c.transfer ? ' (transfer)' : ''}</td><td>${s.severity}</td><td>${pct(s.clean)}</td><td>${pct(s.patched)}</td><td>${pct(s.robust)}</td><td>${pct(s.gapRecovered)}</td></tr>`))
    .join('\n');
  const quant = r.conditions
    .flatMap((c) => c.quant.map((q) => `<tr><td>${esc(c.name)}</td><td>${q.quant}</td><td>${q.bytes}</td><td>${q.smallerThanModel.toFixed(1)}×</td><td>${pct(q.corrupted)}</td></tr>`))
    .join('\n');
  const layers = r.conditions
    .map((c) => `<tr><td>${esc(c.name)}</td>${c.layers.map((l) => `<td>k=${l.layers}: ${pct(l.corrupted)}</td>`).join('')}</tr>`)
    .join('\n');
  const comp = r.composition
    .map(
      (m) =>
        `<tr><td>${esc(m.name)}</td><td>${esc(JSON.stringify(m.mix))}</td><td>${esc(m.corruptions.join(' → '))} (s${m.severity})</td><td>${pct(m.clean)}</td>` +
        `<td>${Object.entries(m.singles).map(([k, v]) => `${esc(k)} ${pct(v)}`).join('<br>')}</td><td>${pct(m.mixed)}</td>` +
        `<td>${Object.entries(m.dedicated).map(([k, v]) => `${esc(k)} ${pct(v)}`).join('<br>') || '–'}</td><td>${pct(m.pairModel)}</td><td>${pct(m.shareOfPair)}</td></tr>`,
    )
    .join('\n');
  const famCharts = r.conditions.flatMap((c) => (c.families ?? []).map((f) => ({ c, f })));
  const famData = JSON.stringify(
    famCharts.map(({ c, f }) => {
      const line = (get: (s: SeverityRow) => number | undefined) => (f.severities.some((s) => get(s) !== undefined) ? f.severities.map((s) => (get(s) ?? NaN) * 100) : null);
      return {
        title: `${c.name} / ${f.family}`,
        labels: f.severities.map((s) => `${s.severity}`),
        lines: {
          'clean model': line((s) => s.clean),
          'patched (in family)': line((s) => s.patched),
          'patched (family left out)': line((s) => s.lofo),
          Auto: line((s) => s.auto),
          'BN adaptation (recipe)': line((s) => s.peers?.bn),
          'TENT (recipe)': line((s) => s.peers?.tent),
          'fine-tuned model': line((s) => s.robust),
        },
      };
    }),
  ).replace(/</g, '\\u003c');
  const famRows = famCharts
    .flatMap(({ c, f }) =>
      f.severities.map(
        (s) =>
          `<tr><td>${esc(c.name)}</td><td>${esc(f.family)}</td><td>${s.severity}</td><td>${pct(s.clean)}</td><td>${pct(s.robust)}</td><td>${pct(s.patched)}</td><td>${pct(s.gapRecovered)}</td>` +
          `<td>${pct(s.lofo)}</td><td>${pct(s.gapLofo)}</td><td>${pct(s.auto)}</td><td>${s.best ? `${esc(s.best.id)} ${pct(s.best.accuracy)}` : '–'}</td>` +
          `<td>${s.peers ? `${pct(s.peers.bn)} / ${pct(s.peers.bnClean)}` : '–'}</td><td>${s.peers ? `${pct(s.peers.tent)} / ${pct(s.peers.tentClean)}` : '–'}</td><td>${s.peers ? `${pct(s.peers.rwsBn)} / ${pct(s.peers.rwsBnClean)}` : '–'}</td></tr>`,
      ),
    )
    .join('\n');
  const familySection = famCharts.length
    ? `<h2>Generator families: accuracy vs strength</h2>
<p>Each condition made by each of its generator families. <i>In family</i>: the shipped signature (trained on every family). <i>Family left out</i>: the same recipe with this family's lineage left out of training (the honest figure for weather made some other way). Fine-tuned model: all layers fine-tuned on this family. Auto: <code>--mix auto</code> over the images (sample, then commit). BN adaptation and TENT come from the recipe (torch, the unfolded model, its own test images, batches of 200), with the clean accuracy each leaves behind.</p>
<div class="grid">${famCharts.map((_, i) => `<div class="card"><canvas id="fam${i}" height="230"></canvas></div>`).join('')}</div>
<table><tr><th>condition</th><th>family</th><th>strength</th><th>clean %</th><th>fine-tuned %</th><th>in family %</th><th>gap %</th><th>left out %</th><th>gap %</th><th>Auto %</th><th>best mix (hindsight) %</th><th>BN adapt. / clean %</th><th>TENT / clean %</th><th>RWS+BN / clean %</th></tr>
${famRows}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.packName)}: robustness report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.5rem}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
</style></head><body>
<h1>${esc(r.packName)}: robustness report</h1>
<p>${r.data.images} images of <code>${esc(r.data.source)}</code>, seed ${r.data.seed}. Clean accuracy ${pct(r.clean)}%.
After patching and unpatching: ${pct(r.unpatch.cleanAfterUnpatch)}%, logits ${r.unpatch.bitIdentical ? 'bit-identical' : '<b>not</b> bit-identical'} to the clean model (${r.unpatch.comparedLogits} values).
Model ${esc(r.model.file)}, ${r.model.bytes} bytes.</p>
<h2>Accuracy vs severity</h2>
<div class="grid">${charts.map((c) => `<div class="card"><canvas id="${c.id}" height="220"></canvas></div>`).join('')}</div>
<table><tr><th>condition</th><th>severity</th><th>clean %</th><th>patched %</th><th>robust %</th><th>gap recovered %</th></tr>
${rows}</table>
${familySection}
<h2>α sweep (severity ${r.sweepSeverity})</h2>
<div class="card"><canvas id="alpha" height="120"></canvas></div>
<h2>Layers kept (severity ${r.sweepSeverity})</h2><table>${layers}</table>
<h2>Quantization (severity ${r.sweepSeverity})</h2>
<table><tr><th>condition</th><th>storage</th><th>bytes</th><th>smaller than model</th><th>accuracy %</th></tr>${quant}</table>
<h2>Mixes</h2>
<table><tr><th>mix</th><th>α</th><th>data</th><th>clean %</th><th>single signatures %</th><th>mix %</th><th>dedicated %</th><th>pair model %</th><th>share of pair gain %</th></tr>${comp}</table>
<script>${lib}</script>
<script>
const D = ${data};
const titles = ${JSON.stringify(charts.map((c) => c.title)).replace(/</g, '\\u003c')};
D.severity.forEach((s, i) => {
  const sets = [{label: 'clean', data: s.clean, borderColor: '#888'}, {label: 'patched', data: s.patched, borderColor: '#1a73e8'}];
  if (s.robust) sets.push({label: 'robust model', data: s.robust, borderColor: '#e8710a', borderDash: [5, 4]});
  new Chart(document.getElementById('sev' + i), {type: 'line', data: {labels: s.labels, datasets: sets},
    options: {animation: false, plugins: {title: {display: true, text: titles[i]}}, scales: {y: {min: 0, max: 100, title: {display: true, text: 'accuracy %'}}, x: {title: {display: true, text: 'severity'}}}}});
});
const palette = ['#1a73e8', '#e8710a', '#188038', '#d93025', '#9334e6', '#12b5cb', '#f9ab00'];
const FAM = ${famData};
const famStyle = {'clean model': ['#888', []], 'patched (in family)': ['#1a73e8', []], 'patched (family left out)': ['#1a73e8', [5, 4]], Auto: ['#188038', []], 'BN adaptation (recipe)': ['#9334e6', [2, 3]], 'TENT (recipe)': ['#d93025', [2, 3]], 'fine-tuned model': ['#e8710a', [8, 4]]};
FAM.forEach((f, i) => {
  const sets = Object.entries(f.lines).filter(([, v]) => v).map(([k, v]) => ({label: k, data: v, borderColor: famStyle[k][0], borderDash: famStyle[k][1]}));
  new Chart(document.getElementById('fam' + i), {type: 'line', data: {labels: f.labels, datasets: sets},
    options: {animation: false, plugins: {title: {display: true, text: f.title}, legend: {labels: {boxWidth: 12, font: {size: 10}}}}, scales: {y: {min: 0, max: 100, title: {display: true, text: 'accuracy %'}}, x: {title: {display: true, text: 'strength'}}}}});
});
new Chart(document.getElementById('alpha'), {type: 'line', data: {datasets: D.alpha.flatMap((a, i) => [
  {label: a.id + ' (corrupted)', data: a.points, borderColor: palette[i % 7]},
  {label: a.id + ' (clean)', data: a.clean, borderColor: palette[i % 7], borderDash: [4, 4]}])},
  options: {animation: false, parsing: true, scales: {x: {type: 'linear', title: {display: true, text: 'α'}}, y: {min: 0, max: 100, title: {display: true, text: 'accuracy %'}}}}});
</script>
</body></html>
`;
}
