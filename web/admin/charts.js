//! The report's four charts, drawn with uPlot (web/vendor/uplot, loaded by admin.html as the
//! global `uPlot`) from the `charts` of `GET /api/consultations/summary`, the same numbers as
//! the report's CSV: consultations per week by form (stacked bars), waiting time by subject
//! (median and 90th percentile), load per teacher, and offline questions answered within a
//! day. Each chart keeps its numbers in a table beside it, for screen readers and copying;
//! printed, the charts are redrawn to the width of an A4 page.

import { h } from '../dom.js';
import { subjectName, t } from '../i18n.js';

/// Okabe–Ito colours: told apart by people with colour blindness, and in grey print.
const COLOURS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00'];
/// The width of an A4 page's text at 96 px per inch (about 170 mm).
const PRINT_WIDTH = 640;

/// Steps of an axis of counts: whole numbers only.
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

/// The plots drawn, each with its figure, so that they can be resized and destroyed.
let plots = [];

function formLabel(key) {
  const [form, mode] = key.split(' ');
  return `${t(`admin.form.${form}`)}, ${t(`admin.mode.${mode}`)}`;
}

function keyLabel(key) {
  if (key === 'support (confidential)') return t('admin.support_confidential');
  return key === '-' ? t('admin.none') : key;
}

function subjectLabel(code) {
  return code === 'support (confidential)' ? keyLabel(code) : subjectName(code);
}

/// `2026-11-30` as `30.11`.
function weekLabel(week) {
  const [, month, day] = week.split('-');
  return `${day}.${month}`;
}

/// Stacked bars: each series drawn from zero to the sum of itself and the ones under it, the
/// tallest first, so every later (shorter) bar paints over the lower part of the one before.
function stacked(series) {
  const sums = [];
  let running = series.length ? series[0].map(() => 0) : [];
  for (const values of series) {
    running = running.map((sum, i) => sum + values[i]);
    sums.push(running);
  }
  return sums.reverse();
}

function bars(align = 0, size = 0.6) {
  return globalThis.uPlot.paths.bars({ size: [size, 64], align });
}

/// An x axis of categories (weeks, subjects, teachers) at 0, 1, 2, ...
function categoryAxis(labels) {
  return {
    space: 34,
    incrs: [1, 2, 4, 8, 13, 26, 52],
    values: (u, splits) => splits.map((i) => (Number.isInteger(i) ? labels[i] ?? '' : '')),
    gap: 4,
  };
}

function categoryScale(count) {
  return { time: false, range: () => [-0.5, Math.max(count, 1) - 0.5] };
}

/// The four charts as uPlot options, data and the table of their numbers.
function specs(charts) {
  const weekly = charts.weekly_by_form;
  const weeks = weekly.weeks.map(weekLabel);
  const weeklyNames = weekly.series.map((s) => formLabel(s.form));
  const waits = charts.wait_by_subject;
  const load = charts.load_by_teacher;
  const offline = charts.offline_answered;
  const offlineNames = [t('admin.chart_within_day'), t('admin.chart_later'), t('admin.chart_unanswered')];
  const offlineCounts = [offline.map((w) => w.within_day), offline.map((w) => w.later), offline.map((w) => w.unanswered)];
  const minutes = (secs) => Math.round(secs / 6) / 10;
  return [
    {
      kind: 'weekly_by_form',
      whole: true,
      title: t('admin.chart_weekly_by_form'),
      unit: t('admin.chart_consultations'),
      labels: weeks,
      names: weeklyNames,
      table: { head: [t('admin.chart_week'), ...weeklyNames], rows: weekly.weeks.map((week, i) => [week, ...weekly.series.map((s) => s.counts[i])]) },
      series: [...weekly.series.map((s, i) => ({ label: weeklyNames[i], fill: COLOURS[i % COLOURS.length], stroke: COLOURS[i % COLOURS.length], paths: bars() }))].reverse(),
      data: stacked(weekly.series.map((s) => s.counts)),
      count: weeks.length,
    },
    {
      kind: 'wait_by_subject',
      title: t('admin.chart_wait_by_subject'),
      unit: t('admin.chart_minutes'),
      labels: waits.map((w) => subjectLabel(w.subject)),
      names: [t('admin.chart_median'), t('admin.chart_p90')],
      table: {
        head: [t('admin.chart_subject'), t('admin.chart_requests'), t('admin.chart_median_secs'), t('admin.chart_p90_secs')],
        rows: waits.map((w) => [subjectLabel(w.subject), w.requests, w.median_secs, w.p90_secs]),
      },
      series: [
        { label: t('admin.chart_median'), fill: COLOURS[0], stroke: COLOURS[0], paths: bars(-1, 0.4) },
        { label: t('admin.chart_p90'), fill: COLOURS[1], stroke: COLOURS[1], paths: bars(1, 0.4) },
      ],
      data: [waits.map((w) => minutes(w.median_secs)), waits.map((w) => minutes(w.p90_secs))],
      count: waits.length,
    },
    {
      kind: 'load_by_teacher',
      whole: true,
      title: t('admin.chart_load_by_teacher'),
      unit: t('admin.chart_consultations'),
      labels: load.map((l) => keyLabel(l.teacher)),
      names: [t('admin.chart_consultations'), t('admin.chart_held')],
      table: {
        head: [t('admin.chart_teacher'), t('admin.chart_consultations'), t('admin.chart_held'), t('admin.minutes_col')],
        rows: load.map((l) => [keyLabel(l.teacher), l.consultations, l.held, l.minutes]),
      },
      series: [
        { label: t('admin.chart_consultations'), fill: COLOURS[0], stroke: COLOURS[0], paths: bars(-1, 0.4) },
        { label: t('admin.chart_held'), fill: COLOURS[2], stroke: COLOURS[2], paths: bars(1, 0.4) },
      ],
      data: [load.map((l) => l.consultations), load.map((l) => l.held)],
      count: load.length,
    },
    {
      kind: 'offline_answered',
      whole: true,
      title: t('admin.chart_offline_answered'),
      unit: t('admin.chart_questions'),
      labels: offline.map((w) => weekLabel(w.week)),
      names: offlineNames,
      table: {
        head: [t('admin.chart_week'), t('admin.chart_asked'), ...offlineNames, t('admin.chart_within_day_percent')],
        rows: offline.map((w) => [w.week, w.asked, w.within_day, w.later, w.unanswered, w.within_day_percent]),
      },
      series: [
        { label: offlineNames[0], fill: COLOURS[2], stroke: COLOURS[2], paths: bars() },
        { label: offlineNames[1], fill: COLOURS[1], stroke: COLOURS[1], paths: bars() },
        { label: offlineNames[2], fill: COLOURS[5], stroke: COLOURS[5], paths: bars() },
      ].reverse(),
      data: stacked(offlineCounts),
      count: offline.length,
    },
  ];
}

function dataTable(spec) {
  return h('details', { class: 'chart-numbers' },
    h('summary', {}, t('admin.chart_numbers')),
    h('div', { class: 'table-wrap', role: 'region', tabindex: 0, 'aria-label': spec.title }, h('table', { 'data-chart-table': spec.kind },
      h('thead', {}, h('tr', {}, spec.table.head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, spec.table.rows.map(([first, ...rest]) => h('tr', {},
        h('th', { scope: 'row' }, first),
        rest.map((n) => h('td', {}, n))))))));
}

/// The legend, drawn as a list (uPlot's own is off): the colour and the name of each series.
function legend(spec) {
  const series = [...spec.series].reverse();
  const stackedKinds = ['weekly_by_form', 'offline_answered'];
  const shown = stackedKinds.includes(spec.kind) ? series : spec.series;
  return h('ul', { class: 'chart-legend' }, shown.map((s) => h('li', {},
    h('span', { class: 'swatch', 'data-colour': s.fill, 'aria-hidden': 'true' }), s.label)));
}

function chartWidth(figure) {
  return Math.max(280, Math.floor(figure.clientWidth || 600) - 2);
}

function chartHeight(width) {
  return width < 480 ? 220 : 280;
}

function options(spec, width) {
  return {
    width,
    height: chartHeight(width),
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    scales: { x: categoryScale(spec.count), y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [
      categoryAxis(spec.labels),
      { label: spec.unit, size: 48, labelSize: 20, incrs: spec.whole ? WHOLE_STEPS : undefined },
    ],
    series: [{}, ...spec.series.map((s) => ({ ...s, width: 0, points: { show: false } }))],
  };
}

/// Draws the charts of a report into `container`, replacing any drawn before.
export function drawCharts(container, charts) {
  for (const { plot } of plots) plot.destroy();
  plots = [];
  container.replaceChildren();
  if (!globalThis.uPlot) return;
  const empty = charts.weekly_by_form.weeks.length === 0;
  if (empty) {
    container.append(h('p', { class: 'muted' }, t('admin.chart_empty')));
    return;
  }
  for (const spec of specs(charts)) {
    const canvasBox = h('div', { class: 'chart-canvas', role: 'img', 'aria-label': `${spec.title}. ${t('admin.chart_see_numbers')}` });
    const figure = h('figure', { class: 'chart', 'data-chart': spec.kind },
      h('figcaption', {}, spec.title),
      legend(spec),
      canvasBox,
      dataTable(spec));
    container.append(figure);
    const x = spec.labels.map((_, i) => i);
    const plot = new globalThis.uPlot(options(spec, chartWidth(figure)), [x, ...spec.data], canvasBox);
    plots.push({ plot, figure });
    for (const swatch of figure.querySelectorAll('.swatch')) swatch.style.background = swatch.dataset.colour;
  }
}

function resizeAll(width) {
  for (const { plot, figure } of plots) {
    const w = width ?? chartWidth(figure);
    plot.setSize({ width: w, height: chartHeight(w) });
  }
}

let resizing = 0;
window.addEventListener('resize', () => {
  cancelAnimationFrame(resizing);
  resizing = requestAnimationFrame(() => resizeAll());
});
window.addEventListener('beforeprint', () => resizeAll(PRINT_WIDTH));
window.addEventListener('afterprint', () => resizeAll());
