// Konsens price chart: TradingView Lightweight Charts v5 as a Streamlit components-v2 renderer.
//
// Streamlit calls the default export on every run of the script (or fragment) that mounts the
// component, with the same parentElement. The chart is created once per parentElement and kept
// in `instances`; later calls only send what changed: a forming or new candle goes through
// series.update(), so the chart is never rebuilt and the user's zoom and scroll stay. History
// is paged in when the user scrolls near the left edge (state value `history_before`).
import {
  createChart,
  createSeriesMarkers,
  CandlestickSeries,
  HistogramSeries,
  LineSeries,
  LineStyle,
  CrosshairMode,
} from "lightweight-charts";

const instances = new WeakMap();

const THEMES = {
  dark: { background: "#0e1117", text: "#d1d4dc", grid: "#1f2430", border: "#2a2e39", up: "#26a69a", down: "#ef5350" },
  light: { background: "#ffffff", text: "#131722", grid: "#eef0f3", border: "#d1d4dc", up: "#089981", down: "#f23645" },
};
const LINE_STYLES = { solid: LineStyle.Solid, dashed: LineStyle.Dashed, dotted: LineStyle.Dotted };
const PAGE_EDGE_BARS = 20;
const MAX_APPEND = 500; // more new bars than this at once: set the data anew

const formatters = new Map();

function formatter(timeZone, options) {
  const key = timeZone + JSON.stringify(options);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat("en-GB", { timeZone, hourCycle: "h23", ...options }));
  return formatters.get(key);
}

// Times arrive as UTC epoch seconds and are shown in the dashboard's time zone (Europe/Vienna).
function timeLabel(timeZone, seconds) {
  return formatter(timeZone, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(seconds * 1000);
}

function tickLabel(timeZone, seconds, tickMarkType) {
  const when = seconds * 1000;
  if (tickMarkType === 0) return formatter(timeZone, { year: "numeric" }).format(when);
  if (tickMarkType === 1) return formatter(timeZone, { month: "short" }).format(when);
  if (tickMarkType === 2) return formatter(timeZone, { day: "numeric", month: "short" }).format(when);
  return formatter(timeZone, { hour: "2-digit", minute: "2-digit" }).format(when);
}

function chartOptions(theme, height, timeZone) {
  const colours = THEMES[theme] || THEMES.dark;
  return {
    height,
    autoSize: false,
    layout: {
      background: { color: colours.background },
      textColor: colours.text,
      panes: { separatorColor: colours.border, enableResize: true },
      attributionLogo: true,
    },
    grid: { vertLines: { color: colours.grid }, horzLines: { color: colours.grid } },
    crosshair: { mode: CrosshairMode.Normal },
    rightPriceScale: { borderColor: colours.border },
    timeScale: {
      borderColor: colours.border, timeVisible: true, secondsVisible: false, rightOffset: 5,
      tickMarkFormatter: (time, tickMarkType) => tickLabel(timeZone, time, tickMarkType),
    },
    handleScroll: { mouseWheel: true, pressedMouseMove: true, horzTouchDrag: true, vertTouchDrag: true },
    handleScale: { mouseWheel: true, pinch: true, axisPressedMouseMove: true, axisDoubleClickReset: true },
    localization: { priceFormatter: (price) => formatPrice(price), timeFormatter: (time) => timeLabel(timeZone, time) },
  };
}

function formatPrice(price) {
  const magnitude = Math.abs(price);
  const digits = magnitude >= 1000 ? 2 : magnitude >= 1 ? 2 : magnitude >= 0.01 ? 4 : 8;
  return price.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function candleAt(candles, index) {
  return { time: candles.t[index], open: candles.o[index], high: candles.h[index], low: candles.l[index], close: candles.c[index] };
}

function volumeAt(candles, index, colours) {
  return {
    time: candles.t[index],
    value: candles.v[index],
    color: candles.c[index] >= candles.o[index] ? colours.up + "80" : colours.down + "80",
  };
}

function lineAt(times, values, index) {
  const value = values[index];
  return value === null || value === undefined ? { time: times[index] } : { time: times[index], value };
}

function structureKey(data) {
  const panes = (data.panes || []).map((pane) => pane.id + ":" + pane.series.map((item) => item.name + "/" + item.kind).join(","));
  const overlays = (data.overlays || []).map((item) => item.name);
  return [data.series_id, data.theme, data.show_volume, data.height, panes.join("|"), overlays.join("|")].join("#");
}

function build(root, data) {
  const colours = THEMES[data.theme] || THEMES.dark;
  const chart = createChart(root.plot, chartOptions(data.theme, data.height || 560, data.time_zone || "UTC"));
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: colours.up, downColor: colours.down, borderVisible: false, wickUpColor: colours.up, wickDownColor: colours.down,
  });
  let volume = null;
  if (data.show_volume) {
    volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  }
  const overlays = (data.overlays || []).map((item) =>
    chart.addSeries(LineSeries, { color: item.color, lineWidth: 1, title: item.name, lastValueVisible: false, priceLineVisible: false }),
  );
  const panes = (data.panes || []).map((pane, paneOffset) =>
    pane.series.map((item) => {
      const definition = item.kind === "histogram" ? HistogramSeries : LineSeries;
      const options = item.kind === "histogram"
        ? { color: item.color, title: item.name, priceLineVisible: false }
        : { color: item.color, lineWidth: 1, title: item.name, priceLineVisible: false };
      return chart.addSeries(definition, options, paneOffset + 1);
    }),
  );
  chart.panes().forEach((pane, index) => pane.setStretchFactor(index === 0 ? 3 : 1));
  const markers = createSeriesMarkers(candles, []);
  const state = {
    chart, candles, volume, overlays, panes, markers, colours,
    key: structureKey(data), times: [], lastBar: null, priceLines: [], markerTips: new Map(),
    requestedBefore: null, data,
  };
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => onRangeChange(root, state, range));
  chart.subscribeCrosshairMove((param) => onCrosshair(root, state, param));
  root.plot.addEventListener("dblclick", () => {
    chart.timeScale().resetTimeScale();
    chart.priceScale("right").applyOptions({ autoScale: true });
  });
  root.mounts += 1;
  root.host.dataset.mounts = String(root.mounts);
  return state;
}

function setAll(state, data) {
  const candles = data.candles;
  const count = candles.t.length;
  const bars = new Array(count);
  for (let index = 0; index < count; index += 1) bars[index] = candleAt(candles, index);
  state.candles.setData(bars);
  if (state.volume) {
    const volumes = new Array(count);
    for (let index = 0; index < count; index += 1) volumes[index] = volumeAt(candles, index, state.colours);
    state.volume.setData(volumes);
  }
  (data.overlays || []).forEach((item, position) => {
    state.overlays[position].setData(item.values.map((_value, index) => lineAt(candles.t, item.values, index)));
  });
  (data.panes || []).forEach((pane, paneIndex) => {
    pane.series.forEach((item, position) => {
      state.panes[paneIndex][position].setData(item.values.map((_value, index) => lineAt(candles.t, item.values, index)));
    });
  });
  state.times = candles.t.slice();
}

function updateFrom(state, data, fromIndex) {
  const candles = data.candles;
  for (let index = fromIndex; index < candles.t.length; index += 1) {
    state.candles.update(candleAt(candles, index));
    if (state.volume) state.volume.update(volumeAt(candles, index, state.colours));
    (data.overlays || []).forEach((item, position) => state.overlays[position].update(lineAt(candles.t, item.values, index)));
    (data.panes || []).forEach((pane, paneIndex) => {
      pane.series.forEach((item, position) => state.panes[paneIndex][position].update(lineAt(candles.t, item.values, index)));
    });
  }
}

// Apply new data to an existing chart with the least change: append/update the tail, or
// re-set the data and keep the visible range (shifted by the bars paged in on the left).
function applyData(root, state, data) {
  const times = data.candles.t;
  const previous = state.times;
  if (previous.length === 0) {
    setAll(state, data);
    const visible = Math.min(times.length, data.initial_bars || 150);
    state.chart.timeScale().setVisibleLogicalRange({ from: times.length - visible, to: times.length + 3 });
    return "initial";
  }
  // The window slides with time (its start moves on with its end): bars that left it on the
  // left stay on the chart, new and forming bars on the right are updated in place.
  const lastPrevious = previous[previous.length - 1];
  const tailIndex = times.lastIndexOf(lastPrevious);
  if (times.length > 0 && times[0] >= previous[0] && tailIndex >= 0 && times.length - tailIndex <= MAX_APPEND) {
    updateFrom(state, data, tailIndex);
    state.times = previous.slice(0, previous.length - 1).concat(times.slice(tailIndex));
    return "incremental";
  }
  const range = state.chart.timeScale().getVisibleLogicalRange();
  const shift = times.indexOf(previous[0]);
  setAll(state, data);
  if (range && shift >= 0) {
    state.chart.timeScale().setVisibleLogicalRange({ from: range.from + shift, to: range.to + shift });
  }
  state.requestedBefore = null;
  return shift > 0 ? "paged" : "reset";
}

function applyDecorations(state, data) {
  state.priceLines.forEach((line) => state.candles.removePriceLine(line));
  state.priceLines = (data.price_lines || []).map((line) =>
    state.candles.createPriceLine({
      price: line.price, color: line.color, lineWidth: 1, lineStyle: LINE_STYLES[line.style] ?? LineStyle.Dashed,
      axisLabelVisible: true, title: line.title,
    }),
  );
  const markers = (data.markers || []).slice().sort((left, right) => left.time - right.time);
  state.markerTips = new Map();
  markers.forEach((marker) => {
    if (!marker.tooltip) return;
    const list = state.markerTips.get(marker.time) || [];
    list.push(marker.tooltip);
    state.markerTips.set(marker.time, list);
  });
  state.markers.setMarkers(markers.map((marker) => ({
    time: marker.time, position: marker.position, shape: marker.shape, color: marker.color, text: marker.text || "",
  })));
}

function onRangeChange(root, state, range) {
  if (!range) return;
  root.host.dataset.visibleFrom = range.from.toFixed(2);
  root.host.dataset.visibleTo = range.to.toFixed(2);
  const data = state.data;
  if (range.from < PAGE_EDGE_BARS && data.has_more_before && state.times.length > 0) {
    const first = state.times[0];
    if (state.requestedBefore !== first && root.setStateValue) {
      state.requestedBefore = first;
      root.setStateValue("history_before", first);
    }
  }
}

function onCrosshair(root, state, param) {
  const tip = root.tooltip;
  if (!param || param.time === undefined || !param.point) {
    tip.style.display = "none";
    return;
  }
  const bar = param.seriesData.get(state.candles);
  const lines = [];
  if (bar && bar.open !== undefined) {
    lines.push(`O ${formatPrice(bar.open)} H ${formatPrice(bar.high)} L ${formatPrice(bar.low)} C ${formatPrice(bar.close)}`);
  }
  (state.markerTips.get(param.time) || []).forEach((text) => lines.push(text));
  root.legend.textContent = lines.length ? lines[0] : "";
  if (lines.length < 2) {
    tip.style.display = "none";
    return;
  }
  tip.textContent = lines.slice(1).join("\n");
  tip.style.display = "block";
  tip.style.left = Math.min(param.point.x + 14, root.plot.clientWidth - 240) + "px";
  tip.style.top = Math.max(param.point.y - 10, 0) + "px";
}

function ensureRoot(parentElement) {
  let root = instances.get(parentElement);
  if (root) return root;
  const host = document.createElement("div");
  host.className = "konsens-lwchart";
  host.dataset.mounts = "0";
  const legend = document.createElement("div");
  legend.className = "konsens-lwchart-legend";
  const plot = document.createElement("div");
  plot.className = "konsens-lwchart-plot";
  const tooltip = document.createElement("div");
  tooltip.className = "konsens-lwchart-tooltip";
  host.append(legend, plot, tooltip);
  parentElement.appendChild(host);
  root = { host, legend, plot, tooltip, state: null, mounts: 0, setStateValue: null, resize: null };
  root.resize = new ResizeObserver(() => {
    if (root.state) root.state.chart.applyOptions({ width: plot.clientWidth });
  });
  root.resize.observe(plot);
  instances.set(parentElement, root);
  return root;
}

export default function render(component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !data.candles) return undefined;
  const root = ensureRoot(parentElement);
  root.setStateValue = setStateValue;
  const key = structureKey(data);
  if (root.state && root.state.key !== key) {
    root.state.chart.remove();
    root.state = null;
  }
  if (!root.state) root.state = build(root, data);
  const state = root.state;
  state.data = data;
  const applied = applyData(root, state, data);
  applyDecorations(state, data);
  const times = data.candles.t;
  root.host.dataset.bars = String(times.length);
  root.host.dataset.lastTime = times.length ? String(times[times.length - 1]) : "";
  root.host.dataset.lastClose = times.length ? String(data.candles.c[times.length - 1]) : "";
  root.host.dataset.applied = applied;
  root.host.dataset.theme = data.theme;
  root.host.dataset.revision = String(data.revision ?? "");
  return () => {
    if (root.state) root.state.chart.remove();
    root.resize.disconnect();
    instances.delete(parentElement);
  };
}
